#pragma once

// A run from code: what `dsq local`, `dsq server` and `dsq worker` run, given a run_config that
// is checked as the command line is, returning the summary (docs/api.md, "Running from code").
//
// Errors: a configuration the program refuses with exit code 2 (a bad value, a file or spec
// that cannot be used, too few samples for --epochs) is thrown, as config_error (or another
// std::invalid_argument) with the program's message; a run that starts and then fails (exit
// codes 1, 3 and 6 of the program) returns ok false and the error. The functions install no
// signal handler and print nothing: their words go to the observer's on_log, if any.

#include <dsq/data.hpp>
#include <dsq/model.hpp>
#include <dsq/run_config.hpp>
#include <dsq/run_record.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

/// What a run started from code reports while it runs. Called from the server's thread, one
/// call at a time; keep it short (the run waits for it).
struct run_observer {
  /// After each metrics row (evaluated rows carry the test columns). Return false to stop the
  /// run, as SIGINT stops `dsq local`: the summary says completed: false. Rows come in step
  /// order, each once it is final: a row evaluated (row 0, every --eval-every, the last) once
  /// its evaluation is in, and the rows after it behind it; the run stops at the step it has
  /// reached when false is returned (row k's own step unless an evaluation was still on its
  /// way), and the rows up to there still come. Every row of the metrics comes here, 0 to the
  /// last. An exception thrown here fails the run with its message.
  std::function<bool(const step_record& row)> on_row;
  /// Human-readable progress lines as the console shows them (none: silent).
  std::function<void(std::string_view line)> on_log;
  /// run_server: called once it listens, with its port (cfg.port, or the one the OS chose when
  /// cfg.port is 0), before any worker can register.
  std::function<void(std::uint16_t port)> on_listening;
};

/// What a finished run gives back.
struct run_result {
  /// The run ended without a failure: trained to the end, to the target, or stopped by its
  /// observer (then summary.completed is false). run_worker: the server ended the run normally.
  bool ok = false;
  std::string error;        ///< why not, when !ok
  run_summary summary;      ///< what --summary writes (run_worker: empty)
  std::vector<float> model; ///< the server's final parameters (run_worker: empty)
};

/// `dsq local`: the server and cfg.workers workers in this process. Model and data come from
/// cfg.model / cfg.dataset (built-in or registered) unless given here: `model` replaces the
/// one cfg.model would build (it must fit the data: its input and class counts); `data` replaces
/// the data set cfg.dataset names (cfg.model is then sized to it; cfg.dataset must still be a
/// valid spec). Both stay in this process:
/// across processes, register them by name (<dsq/registry.hpp>).
run_result run_local(const run_config& cfg, const run_observer& observer = {},
                     std::shared_ptr<const model> model = nullptr,
                     std::shared_ptr<const data_source> data = nullptr);
/// `dsq server`: listens on cfg.bind:cfg.port and runs until the run ends.
run_result run_server(const run_config& cfg, const run_observer& observer = {});
/// `dsq worker`: joins cfg.server and trains until the server ends the run. Returns ok when the
/// server ended the run normally. Only the observer's on_log is used (the worker's own lines).
run_result run_worker(const run_config& cfg, const run_observer& observer = {});
/// Reads `dsq`'s command line (argv[1] is the command) into a configuration, checked as the dsq
/// program checks it; throws config_error with the program's message. The fault-injection
/// options (--faults.*, --fault-log) are checked but are the program's: they are not part of
/// run_config.
run_config parse_command_line(int argc, const char* const* argv);
/// The dsq program: what demos/dsq.cpp's main() runs. Returns the exit code. It installs the
/// SIGINT and SIGTERM handlers and prints to stdout and stderr.
int run_command_line(int argc, char** argv);

} // namespace dsq
