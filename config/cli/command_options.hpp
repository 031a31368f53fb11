#pragma once

// Which `dsq` command uses which option, and how its help groups them. A command refuses an
// option it would ignore (a worker trains with the server's configuration, so `dsq worker
// --lr=5` would change nothing), and its --help lists only its own options.

#include <string>
#include <string_view>

namespace dsq {

/// The commands of `dsq`.
enum class dsq_command : unsigned { local = 1, server = 2, worker = 4, launch = 8 };

/// A set of commands, as a bit mask of dsq_command values.
using command_set = unsigned;

/// Every command that runs training itself (dsq launch starts server and workers, and hands
/// their options on).
inline constexpr command_set all_commands = 7;
/// dsq launch alone: its own options.
inline constexpr command_set launch_only = 8;
/// dsq local and dsq server: the options that define the run (a worker receives them).
inline constexpr command_set run_commands = 3;

/// Whether `commands` holds `c`.
constexpr bool uses(command_set commands, dsq_command c) {
  return (commands & static_cast<unsigned>(c)) != 0;
}

/// The command word: "local", "server", "worker" or "launch".
std::string_view command_name(dsq_command c);

/// "dsq local and dsq server", "dsq worker", ...: the commands of `commands` for a sentence.
std::string command_list(command_set commands);

/// The groups of the help, in the order it prints them.
enum class option_group {
  run,
  model_and_data,
  compression,
  mode,
  server,
  worker,
  process,
  tls,
  faults,
  output,
  launch,
};

/// The syntax of the specs that --model, --dataset, --compressor and --lr-schedule take, for
/// the help of the commands that define a run.
std::string_view spec_syntax_help();

/// The heading of `g` in the help of `command`.
std::string_view group_heading(option_group g, dsq_command command);

} // namespace dsq
