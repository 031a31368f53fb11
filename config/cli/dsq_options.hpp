#pragma once

#include "config/cli/command_options.hpp"
#include "config/fault_options.hpp"
#include "config/launch/launch_options.hpp"
#include "config/run_config.hpp"

#include <caf/actor_system_config.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

/// One of dsq's own options (not CAF's): how --help shows it and which commands use it.
struct option_info {
  std::string name;    ///< as on the command line without "--": "lr", "faults.drop"
  char short_name = 0; ///< 'n' for -n (--workers); 0: none
  std::string value;   ///< what the help writes after '=' ("N", "SPEC"); empty: a flag
  /// Shown as "(default ...)"; empty: the member's value when defined ("-": none shown, the
  /// description says what an absent value means)
  std::string default_text;
  option_group group = option_group::run;
  command_set commands = all_commands;
  std::string description;
};

/// CAF's configuration with the run's options bound to a run_config. Options come from the
/// command line (`--key=value`) and from an INI file given with `--config=FILE`; the command
/// line wins. Unlike CAF's own INI reader, unknown keys and bad values in the file are errors.
class dsq_options : public caf::actor_system_config {
public:
  dsq_options();

  run_config run;
  /// The `faults` group and --fault-log, as given (training/faults/fault_plan.hpp checks them).
  fault_options faults;
  /// dsq launch's own options (the run's go to the server and workers it starts).
  launch_options launch;

  /// dsq's options, in the order of the help.
  const std::vector<option_info>& options() const { return options_; }

  /// The option named `name` ("lr", "faults.drop"), or the one whose short name is `name`
  /// ("n"); nullptr if dsq has none (CAF's own, or unknown).
  const option_info* find_option(std::string_view name) const;

  /// Every option of every command, in the order of the help, with descriptions and defaults.
  std::string options_help() const;
  /// The options `command` uses, grouped, with descriptions and defaults; lines fit 100
  /// columns.
  std::string options_help(dsq_command command) const;

private:
  /// Binds `member` to the option `info` describes (in CAF's `faults` category for a name
  /// "faults.*", else `global`) and keeps `info` for the help and the command checks.
  template <class T>
  void define(T& member, option_info info);

  std::vector<option_info> options_;
};

/// What parse_options found.
struct parse_result {
  bool ok = false;
  bool help = false;    ///< --help was asked for: print help, exit 0
  bool version = false; ///< --version was asked for: print the version, exit 0
  bool printed = false; ///< CAF already printed what was asked for (--dump-config)
  std::string error;    ///< one line that names the problem, when !ok
};

/// Parses `args` (the command line without program name and subcommand) into `opts`.
/// `--config=FILE` (or `--config-file=FILE`) names an INI file whose `[global]` section holds
/// the same keys as the command line; other sections are CAF's own (e.g. `[scheduler]`).
/// Never reads caf-application.ini implicitly. Validates the run configuration. With `command`,
/// an option that command does not use is an error naming the commands that do (on the
/// command line and in the file alike), and so are the values that only that command can
/// check (a --slow-worker id beyond dsq local's --workers).
parse_result parse_options(const std::vector<std::string>& args, dsq_options& opts,
                           std::optional<dsq_command> command = std::nullopt);

/// What only `command` can check of a configuration that validate() accepted (a --slow-worker
/// id beyond dsq local's --workers); throws config_error. parse_options calls it.
void check_for_command(const run_config& run, dsq_command command);

/// One `key=value` line of an INI file, as the argument it stands for.
struct ini_entry {
  std::string argument; ///< "--key=value", "--section.key=value" outside [global]
  std::string key;      ///< "key", "section.key"
  int line = 0;         ///< 1-based line number in the file
};

/// The entries of an INI text, in order. Throws config_error naming `origin` and the line on a
/// malformed line, and on a key given twice in one section (naming both lines).
std::vector<ini_entry> read_ini(const std::string& text, const std::string& origin);

/// Turns an INI text into `--key=value` arguments, so that CAF's command-line parser checks
/// every key and value. Throws config_error with the line number on a malformed line.
std::vector<std::string> ini_to_arguments(const std::string& text, const std::string& origin);

} // namespace dsq
