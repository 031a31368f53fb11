#pragma once

// The three commands of dsq on a given actor system, shared by the dsq program
// (run_command_line) and the functions of include/dsq/run.hpp. What differs between the two
// is in run_context: where words go, the fault plan (the program's), and the stop requests
// (the program's signals; from code, the observer stops a run).

#include "config/cli/command_options.hpp"
#include "config/run_config.hpp"
#include "training/faults/fault_injector.hpp"

#include <dsq/run.hpp>

#include <caf/actor_system.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

namespace dsq {

class dsq_options;

/// Where a command's words go.
struct run_console {
  /// Progress lines (the program: stdout; from code: on_log). Empty: none.
  std::function<void(std::string_view line)> line;
  /// Notes the program prints on stderr ("dsq worker: note: ..."). Empty: none.
  std::function<void(std::string_view line)> note;
  /// A failure, as the program prints it after "dsq: error: ". Empty: none.
  std::function<void(std::string_view message)> error;
};

/// What a command runs with besides its configuration.
struct run_context {
  run_console console;
  /// The rows, for run_local and run_server from code (empty for the program).
  std::function<bool(const step_record& row)> on_row;
  /// run_server: its port once it listens.
  std::function<void(std::uint16_t port)> on_listening;
  /// The program's fault plan; none from code.
  std::shared_ptr<fault_injector> faults;
  /// The program's stop requests (SIGINT/SIGTERM): true once one came, and how many came.
  const std::atomic<bool>* stop = nullptr;
  const std::atomic<unsigned>* stops = nullptr;
  /// The program: a worker that cannot reach its server ends the process (the handshake given
  /// up on may hold CAF's I/O thread, whose actor system would wait for it for ever).
  bool exit_on_unreachable_server = false;
};

/// The exit code of a run whose model stopped being finite, told apart from other failures.
inline constexpr int exit_diverged = 3;
/// The exit code of a server whose network layer ended (a peer's message CAF could not decode).
inline constexpr int exit_network_lost = 6;

/// `dsq local` on `sys`: fills `result`, returns the program's exit code (0: the run ended; the
/// program turns a stopped run into 128 + its signal).
int local_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                  run_result& result, std::shared_ptr<const model> model = nullptr,
                  std::shared_ptr<const data_source> data = nullptr);
/// `dsq server --shard-index=k --leader=HOST:PORT`: follower shard k of a sharded run. It
/// listens on --port for the workers, joins the leader (telling it --advertise or --bind and the
/// port) and ends with the run: 0 when the leader ended it, 1 with a line naming the shard
/// otherwise.
int follower_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                     run_result& result);

/// `dsq server` on `sys`, likewise (a follower's command when --shard-index is given).
int server_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                   run_result& result);
/// `dsq worker` on `sys`, likewise.
int worker_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                   run_result& result);

/// The checks that the program makes after reading its options and before it runs: the SIMD
/// level, TLS files and the bind address (server, worker). Throws config_error.
void check_before_running(const run_config& cfg, dsq_command command);

/// The actor system's configuration of `command`: dsq's message types, its runtime defaults
/// (unless already set), the middleman of cfg.tcp, TLS. opts.run must hold the configuration.
void prepare_system(dsq_options& opts, dsq_command command);

} // namespace dsq
