// dsq's command line (moved from demos/dsq.cpp): its usage, its options, its signals and its exit
// codes. parse_command_line reads it as the program does; run_command_line is the program.
//
//   dsq local  [options]   server and workers as actors of one process
//   dsq server [options]   publish the parameter server; train once --min-workers registered
//   dsq worker --server=HOST:PORT   join a server (its configuration is the one that counts)

#include <dsq/version.hpp>

#include "actors/run/launch.hpp"
#include "actors/run/run_commands.hpp"

#include "config/cli/dsq_options.hpp"
#include "config/cli/runtime_defaults.hpp"
#include "model/model_spec_error.hpp"
#include "net/protocol/register_types.hpp"
#include "training/faults/fault_plan.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>
#include <thread>

namespace dsq {

namespace {

constexpr const char* usage = R"(usage: dsq <command> [--key=value ...] [--config=FILE]
       dsq <command> --help     the options of <command>, with their defaults
       dsq --version

commands:
  local    run the parameter server and --workers workers as actors of this process
  server   publish the parameter server on --bind:--port and train once --min-workers
           workers have registered; workers may join and leave while it trains
  worker   connect to --server=HOST:PORT, receive the run's configuration and the model, train
  launch   start a server and --workers workers on this machine or on the hosts of
           --hostfile, forward their output, stop them all at the end (docs/launch.md)

Options come from the command line and from the [global] section of an INI file given with
--config=FILE (the command line wins). Ready-made files are in config/. Each command refuses
the options it does not use (a worker trains with the configuration the server sends).
Default run: DoubleSqueeze with 1-bit sign compression on both passes, 4 workers, an MLP on
MNIST (synthetic data if MNIST has not been fetched).
)";

constexpr const char* exit_codes = R"(exit codes:
  0    the run finished (dsq worker: also when it left on SIGINT or SIGTERM)
  1    an error
  2    bad options
  3    the model diverged (non-finite)
  4    dsq server: injected crash (--faults.server-crash); restart it with --resume=DIR
  5    dsq worker: injected crash (--faults.crash)
  6    dsq server: a peer's message ended CAF's network layer; restart it with --resume=DIR
  dsq launch exits with its server's exit code (128 + N for a server killed by signal N), 1
  when a worker failed beyond --restart-workers or a process could not start, 2 for bad options
  130  dsq local, dsq server: stopped by SIGINT before the end ("stopped at step N of M")
  143  dsq local, dsq server: stopped by SIGTERM before the end (the summary has
       "completed": false; with --checkpoint, --resume=DIR continues the run)
)";

/// What `dsq COMMAND --help` says first: how to call it and what it does.
std::string command_usage(dsq_command command) {
  switch (command) {
  case dsq_command::local:
    return "usage: dsq local [--key=value ...] [--config=FILE]\n\n"
           "Runs the parameter server and --workers workers as actors of this process. SIGINT or\n"
           "SIGTERM stops the run at the current step (outputs and checkpoint written).\n";
  case dsq_command::server:
    return "usage: dsq server [--key=value ...] [--config=FILE]\n\n"
           "Publishes the parameter server on --bind:--port and trains once --min-workers\n"
           "workers have registered; workers may join and leave while it trains. Its options\n"
           "are the run's: each worker receives them. SIGINT or SIGTERM stops the run at the\n"
           "current step and dismisses the workers (a second one stops waiting for them).\n";
  case dsq_command::worker:
    return "usage: dsq worker --server=HOST:PORT [--key=value ...] [--config=FILE]\n\n"
           "Connects to a dsq server, receives the run's configuration, its shard and the model,\n"
           "and trains. The server's options count (model, data, method, steps, ...): a worker\n"
           "takes only the options of its own process below. SIGINT or SIGTERM makes it leave\n"
           "the run (a second one: at once).\n";
  case dsq_command::launch: // its help is actors/run/launch.cpp's
    break;
  }
  return {};
}

/// The help's last paragraph: CAF's own options, and the ones this command sets itself.
std::string caf_options_help(const std::string& command, const std::vector<std::string>& chosen) {
  std::string text = "CAF's own options (--scheduler.*, --work-stealing.*, --middleman.*, ...; "
                     "--dump-config shows\nthem all) are accepted too, on the command line or in "
                     "the INI file's [scheduler], [middleman]\nsections.\n";
  if (chosen.empty())
    return text + "dsq " + command + " runs with CAF's defaults.\n";
  return text + "Unless they are set, dsq " + command + " runs with " +
         fmt::format("{}", fmt::join(chosen, " ")) +
         "\n(config/cli/runtime_defaults.cpp; why: docs/network.md).\n";
}

/// What a command line asks for: a run, or text to print and an exit code.
struct command_line_request {
  enum class kind {
    run,     ///< run `which` with opts and `plan`
    print,   ///< print `text` on stdout, exit 0
    usage,   ///< print `text` (the usage) on stderr, exit 2
    refuse,  ///< print "dsq: error: `text`" on stderr, exit 2
    nothing, ///< CAF printed what was asked for (--dump-config), exit 0
  } what = kind::run;
  std::string text;
  std::string command;
  dsq_command which = dsq_command::local;
  fault_plan plan;
};

/// A request answered with text (or nothing) rather than a run.
command_line_request answer(command_line_request::kind what, std::string text = {}) {
  command_line_request r;
  r.what = what;
  r.text = std::move(text);
  return r;
}

/// Reads the command line into `opts` and checks it as far as the program does before it runs.
command_line_request read_command_line(int argc, const char* const* argv, dsq_options& opts) {
  using kind = command_line_request::kind;
  command_line_request r;
  if (argc < 2)
    return answer(kind::usage, usage);
  r.command = argv[1];
  const auto& command = r.command;
  if (command == "--help" || command == "-h" || command == "help")
    return answer(kind::print, fmt::format("{}\n{}", usage, exit_codes));
  if (command == "--version" || command == "version")
    return answer(kind::print, fmt::format("dsq {}\n", dsq::version()));
  if (command != "local" && command != "server" && command != "worker")
    return answer(
        kind::refuse,
        fmt::format("unknown command '{}' (expected local, server, worker or launch)", command));
  r.which = command == "local"    ? dsq_command::local
            : command == "server" ? dsq_command::server
                                  : dsq_command::worker;
  register_message_types(opts);
  apply_runtime_defaults(opts, role_of_command(command)); // the user's settings win
  auto parsed = parse_options({argv + 2, argv + argc}, opts, r.which);
  if (parsed.version)
    return answer(kind::print, fmt::format("dsq {}\n", dsq::version()));
  if (parsed.help) {
    if (parsed.printed)
      return answer(kind::nothing);
    return answer(
        kind::print,
        fmt::format(
            "{}\n{}\n{}{}\n{}", command_usage(r.which), opts.options_help(r.which),
            r.which == dsq_command::worker ? "" : std::string{spec_syntax_help()} + "\n",
            exit_codes,
            caf_options_help(command, runtime_default_arguments(role_of_command(command)))));
  }
  if (!parsed.ok)
    return answer(kind::refuse, parsed.error);
  try {
    check_before_running(opts.run, r.which);
    // The fault plan is checked before anything runs: a bad value is a bad option.
    r.plan = make_fault_plan(opts.faults);
    if (r.which == dsq_command::local)
      check_local_plan(r.plan, opts.run.workers, opts.run.checkpoint);
  } catch (const config_error& e) {
    return answer(kind::refuse, e.what());
  }
  return r;
}

// -- the program's signals ----------------------------------------------------------------------

std::atomic<bool> stop_requested{false};
std::atomic<unsigned> stop_signals{0}; ///< SIGINT/SIGTERM received so far
std::atomic<int> first_signal{0};      ///< the first of them (0: none)

extern "C" void on_signal(int sig) {
  stop_requested = true;
  stop_signals.fetch_add(1);
  int none = 0;
  first_signal.compare_exchange_strong(none, sig);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// The exit code of a run that a signal stopped before its end: 128 + the signal, as a shell
/// reports a process that the signal ended (130 for SIGINT, 143 for SIGTERM); 0 for a run that
/// completed all the same.
int exit_code_of_stopped_run(const run_summary& s) {
  const int sig = first_signal.load();
  return sig != 0 && !s.completed ? 128 + sig : 0;
}

/// The program's words: progress on stdout (flushed: a log reading a pipe sees where a run is),
/// notes and errors on stderr.
run_console program_console() {
  run_console console;
  console.line = [](std::string_view line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  };
  console.note = [](std::string_view line) { fmt::print(stderr, "{}\n", line); };
  console.error = [](std::string_view message) { fmt::print(stderr, "dsq: error: {}\n", message); };
  return console;
}

} // namespace

run_config parse_command_line(int argc, const char* const* argv) {
  using kind = command_line_request::kind;
  dsq_options opts;
  auto r = read_command_line(argc, argv, opts);
  switch (r.what) {
  case kind::run:
    return opts.run;
  case kind::refuse:
    throw config_error(r.text);
  case kind::usage:
    throw config_error("no command (expected local, server or worker)");
  case kind::print:
  case kind::nothing:
    break;
  }
  throw config_error(
      fmt::format("dsq {}: asks for text, not a run (run_command_line prints it)",
                  argc > 2 ? std::string{argv[1]} + " " + argv[2] : std::string{argv[1]}));
}

int run_command_line(int argc, char** argv) {
  using kind = command_line_request::kind;
  if (argc >= 2 && std::string_view{argv[1]} == "launch") {
    for (int i = 2; i < argc; ++i)
      if (std::string_view{argv[i]} == "--version") {
        fmt::print("dsq {}\n", dsq::version());
        return 0;
      }
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return run_launch_command({argv + 2, argv + argc}, ec ? std::string{argv[0]} : self.string());
  }
  dsq_options opts;
  auto r = read_command_line(argc, argv, opts);
  switch (r.what) {
  case kind::usage:
    fmt::print(stderr, "{}", r.text);
    return 2;
  case kind::print:
    fmt::print("{}", r.text);
    return 0;
  case kind::nothing:
    return 0;
  case kind::refuse:
    fmt::print(stderr, "dsq: error: {}\n", r.text);
    return 2;
  case kind::run:
    break;
  }
  prepare_system(opts, r.which);
  install_signal_handlers();
  int code = 0;
  try {
    run_context ctx;
    ctx.console = program_console();
    ctx.stop = &stop_requested;
    ctx.stops = &stop_signals;
    ctx.exit_on_unreachable_server = true;
    // No plan and no log: no injector, so the run takes exactly the fault-free path.
    if (!r.plan.empty() || !opts.faults.log.empty())
      ctx.faults = std::make_shared<fault_injector>(r.plan, opts.faults.log); // opens --fault-log
    caf::actor_system sys{opts};
    run_result result;
    if (r.which == dsq_command::local)
      code = local_command(sys, opts.run, ctx, result);
    else if (r.which == dsq_command::server)
      code = server_command(sys, opts.run, ctx, result);
    else
      code = worker_command(sys, opts.run, ctx, result);
    if (code == 0 && r.which != dsq_command::worker)
      code = exit_code_of_stopped_run(result.summary);
    std::fflush(stdout);
    std::fflush(stderr);
    // CAF 0.17's actor_system destructor waits for every detached actor to be destroyed. A
    // worker process on a rate-limited link was seen to wait forever there: the middleman,
    // already stopped, still held a message of the worker's. The run's work and output are
    // complete at this point, so a bounded grace period replaces an unbounded wait.
    std::thread{[code] {
      std::this_thread::sleep_for(std::chrono::seconds(5));
      std::_Exit(code);
    }}.detach();
  } catch (const config_error& e) { // found once the data is known (--epochs, too few samples)
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 2;
  } catch (const model_spec_error& e) { // a model too large for the data (model_limits.hpp)
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) { // a spec value the loader refuses (sep=;)
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 1;
  }
  return code;
}

} // namespace dsq
