// dsq: DoubleSqueeze training on CAF actors.
//
//   dsq local  [options]   server and workers as actors of one process
//   dsq server [options]   publish the parameter server; train once --min-workers registered
//   dsq worker --server=HOST:PORT   join a server (its configuration is the one that counts)

#include "actors/fault_link.hpp"
#include "actors/local_run.hpp"
#include "actors/parameter_server.hpp"
#include "actors/reconnect_worker.hpp"
#include "actors/worker.hpp"
#include "base/os/batch_scheduling.hpp"
#include "base/os/cpu_affinity.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "config/cli/dsq_options.hpp"
#include "config/cli/runtime_defaults.hpp"
#include "model/model_spec_error.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/register_types.hpp"
#include "net/transport/eager_tcp.hpp"
#include "net/transport/message_size_limit.hpp"
#include "net/transport/transport.hpp"
#include "training/faults/fault_injector.hpp"
#include "training/faults/fault_plan.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>
#include <unistd.h>

namespace {

using namespace dsq;

#ifndef DSQ_VERSION
#error "DSQ_VERSION must hold dsq's version (set by demos/CMakeLists.txt)"
#endif

constexpr const char* usage = R"(usage: dsq <command> [--key=value ...] [--config=FILE]
       dsq <command> --help     the options of <command>, with their defaults
       dsq --version

commands:
  local    run the parameter server and --workers workers as actors of this process
  server   publish the parameter server on --bind:--port and train once --min-workers
           workers have registered; workers may join and leave while it trains
  worker   connect to --server=HOST:PORT, receive the run's configuration and the model, train

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

std::atomic<bool> stop_requested{false};
std::atomic<unsigned> stop_signals{0}; ///< SIGINT/SIGTERM received so far
std::atomic<int> first_signal{0};      ///< the first of them (0: none)

extern "C" void on_signal(int sig) {
  stop_requested = true;
  stop_signals.fetch_add(1);
  int none = 0;
  first_signal.compare_exchange_strong(none, sig);
}

/// The exit code of a run that a signal stopped before its end: 128 + the signal, as a shell
/// reports a process that the signal ended (130 for SIGINT, 143 for SIGTERM); 0 for a run that
/// completed all the same.
int exit_code_of_stopped_run(const run_summary& s) {
  const int sig = first_signal.load();
  return sig != 0 && !s.completed ? 128 + sig : 0;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int fail(const std::string& message) {
  fmt::print(stderr, "dsq: error: {}\n", message);
  return 1;
}

/// The exit code of a run whose model stopped being finite, told apart from other failures.
constexpr int exit_diverged = 3;

/// The exit code of a server whose network layer ended (a peer's message CAF could not decode).
constexpr int exit_network_lost = 6;

int report_divergence(const run_outcome& outcome) {
  const auto& s = outcome.summary;
  auto message = !outcome.error.empty() ? outcome.error
                 : s.diverged_at_step
                     ? fmt::format("training diverged at step {}", *s.diverged_at_step)
                     : std::string{"training diverged"};
  fmt::print(stderr, "dsq: error: {}\n", message);
  return exit_diverged;
}

/// The sentence inside an error an actor quit with, rather than CAF's rendering of it.
std::string describe(caf::actor_system& sys, const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == caf::atom("system") && ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return sys.render(err);
}

/// Waits for `target` to terminate and returns why it did; sends `target` `on_stop` for every
/// SIGINT/SIGTERM (a second one means "now": a worker's leave stops waiting for the server's
/// farewell, a finished server stops waiting for its workers' goodbyes).
caf::error wait_for(caf::actor_system& sys, const caf::actor& target, caf::message on_stop) {
  caf::scoped_actor self{sys};
  self->monitor(target);
  caf::error reason;
  bool done = false;
  unsigned stops_sent = 0;
  while (!done) {
    self->receive(
        [&](caf::down_msg& dm) {
          reason = dm.reason;
          done = true;
        },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              for (const auto signals = stop_signals.load(); stops_sent < signals; ++stops_sent)
                self->send(target, on_stop);
            });
  }
  return reason;
}

int run_local_command(caf::actor_system& sys, const run_config& cfg,
                      std::shared_ptr<fault_injector> faults) {
  auto setup = load_training(cfg);
  if (cfg.quiet && !setup.note.empty())
    fmt::print(stderr, "dsq: {}\n", setup.note);
  if (!cfg.quiet && !setup.data_note.empty())
    fmt::print("dsq: {}\n", setup.data_note);
  auto outcome =
      run_local(sys, cfg, std::move(setup), !cfg.quiet, &stop_requested, std::move(faults));
  if (outcome.summary.diverged)
    return report_divergence(outcome);
  if (!outcome.ok)
    return fail(outcome.error);
  return exit_code_of_stopped_run(outcome.summary);
}

/// The server process's share of the plan: server-crash through the crash hook (never on a
/// resumed server: the fault happens once), and the summary's counts.
void inject_server_faults(server_options& opts, const std::shared_ptr<fault_injector>& faults) {
  if (!faults)
    return;
  opts.faults_injected = [faults] { return faults->counts(); };
  // Message and worker faults are dsq worker's options: parse_options refused them here.
  const auto& plan = faults->plan();
  if (!plan.server_crash)
    return;
  if (!opts.cfg.resume.empty()) {
    fmt::print(stderr, "dsq server: note: resumed, so --faults.server-crash is not injected "
                       "again (the fault happens once)\n");
    return;
  }
  opts.crash_hook = [faults](std::uint64_t version) {
    if (!faults->take_server_crash(version))
      return false;
    faults->record(version, fault_kind::server_crash, "");
    try {
      faults->sync();
    } catch (const std::exception& e) {
      fmt::print(stderr, "dsq: error: {}\n", e.what());
    }
    fmt::print(stderr, "dsq server: injected crash (--faults.server-crash) at step {}: exit {}\n",
               version, exit_injected_server_crash);
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_injected_server_crash);
    return true;
  };
}

/// Writes the fault log to disk at the end of a run; false (after printing why) on failure.
bool finish_fault_log(const std::shared_ptr<fault_injector>& faults) {
  if (!faults)
    return true;
  try {
    faults->sync();
    return true;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return false;
  }
}

int run_server_command(caf::actor_system& sys, const run_config& cfg,
                       const std::shared_ptr<fault_injector>& faults) {
  auto setup = load_training(cfg);
  if (!cfg.quiet && !setup.data_note.empty())
    fmt::print("dsq: {}\n", setup.data_note);
  auto opts = make_server_options(cfg, std::move(setup));
  // Every connection refuses a header that announces more than this run can send, before
  // CAF's broker sizes a buffer for it (net/transport/message_size_limit.hpp); set before
  // publishing.
  const auto parameters = opts.setup.net->num_parameters();
  if (cfg.max_message_bytes != 0 && cfg.max_message_bytes < largest_run_message(parameters)) {
    fmt::print(stderr,
               "dsq: error: --max-message-bytes={}: below the largest message of this run ({} "
               "bytes for {} parameters)\n",
               cfg.max_message_bytes, largest_run_message(parameters), parameters);
    return 2;
  }
  set_message_size_limit(run_message_size_limit(parameters, cfg.max_message_bytes));
  opts.elastic = true;
  opts.in_middleman = true; // its workers' messages arrive there: no thread hand-off for them
  opts.network_layer = network_layer(sys);
  opts.await_goodbyes = true;
  inject_server_faults(opts, faults);
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  if (cfg.pin_cpus)
    pin_process_to_cpu_slot(0); // the workers take the slots after it
  std::uint16_t port = 0;
  try {
    port = publish_server(sys, server, cfg.port, cfg.bind, cfg.insecure);
  } catch (const transport_error& e) {
    caf::scoped_actor self{sys}; // the server obeys an exit only from its own process
    self->send_exit(server, caf::exit_reason::user_shutdown);
    return fail(e.what());
  }
  auto min_workers = cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
  fmt::print("dsq server: listening on {}:{}, waiting for {} workers\n", cfg.bind, port,
             min_workers);
  std::fflush(stdout);
  auto reason = wait_for(sys, server, caf::make_message(stop_atom::value));
  // One message CAF cannot decode ends its network layer for good (net/PROTOCOL.md): no worker
  // can be reached then, and the server, which watches it (opts.network_layer), ends at once,
  // resumable, rather than wait for ever.
  if (outcome->network_lost) {
    fmt::print(stderr, "dsq: error: {}. {}: exit {}\n", outcome->error,
               cfg.checkpoint.empty() ? "Without --checkpoint the run cannot be resumed"
                                      : "Restart the server with --resume=" + cfg.checkpoint +
                                            " (the workers reconnect within --reconnect-timeout)",
               exit_network_lost);
    finish_fault_log(faults);
    return exit_network_lost;
  }
  if (outcome->summary.diverged)
    return report_divergence(*outcome);
  if (!outcome->ok) // the server ended without an outcome: say why it ended
    return fail(!outcome->error.empty() ? outcome->error
                                        : "the parameter server ended: " + describe(sys, reason));
  if (!finish_fault_log(faults))
    return 1;
  return exit_code_of_stopped_run(outcome->summary);
}

/// Whether a worker process puts a link between its worker and the server: message faults, or
/// worker faults (the worker's id is known only from its welcome, so any id may be this one).
bool worker_needs_link(const std::shared_ptr<fault_injector>& faults) {
  if (!faults)
    return false;
  return faults->plan().has_message_faults() || faults->plan().has_link_worker_faults();
}

/// What a worker process's worker talks to: `server`, or a fault link to it. A worker that
/// reconnects to a restarted server needs a new link: pass the new server here, then
/// attach_worker(link, worker) before (reconnect_atom, link).
caf::actor server_end(caf::actor_system& sys, const caf::actor& server,
                      const std::shared_ptr<fault_injector>& faults) {
  if (!worker_needs_link(faults))
    return server;
  fault_link_options opts;
  opts.injector = faults;
  opts.crash_exits_process = true; // --faults.crash: this process dies without a goodbye
  return spawn_fault_link(sys, server, std::move(opts));
}

int run_worker_command(caf::actor_system& sys, const run_config& cfg,
                       const std::shared_ptr<fault_injector>& faults) {
  auto colon = cfg.server.rfind(':');
  if (cfg.server.empty() || colon == std::string::npos)
    return fail("dsq worker needs --server=HOST:PORT");
  auto host = cfg.server.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(cfg.server.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    return fail("--server=" + cfg.server + ": invalid port");
  // The model, and with it the largest legitimate message, comes with the server's welcome.
  if (cfg.max_message_bytes != 0)
    set_message_size_limit(cfg.max_message_bytes);
  // The server may still be starting: retries for a bounded time, handshake included.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.connect_timeout_s);
  caf::actor server;
  try {
    server = connect_to_server(sys, host, static_cast<std::uint16_t>(port), deadline,
                               [] { return stop_requested.load(); });
  } catch (const transport_error& e) {
    fail(fmt::format("{} (--connect-timeout={})", e.what(), cfg.connect_timeout_s));
    // The handshake given up on may still occupy CAF's I/O thread (OpenSSL retries it in a
    // loop), and the actor system's destructor would wait for it; nothing of the run exists
    // yet, so there is nothing to finish.
    std::fflush(stdout);
    std::_Exit(1);
  }
  if (!cfg.quiet) {
    // Flushed: until the run starts this is all a user (or a log reading a pipe) sees.
    fmt::print("dsq worker: connected to {}; waiting for the server's welcome\n", cfg.server);
    std::fflush(stdout);
  }
  char name[256] = "unknown";
  gethostname(name, sizeof(name) - 1);
  worker_options opts;
  opts.host = fmt::format("{} pid {}", name, getpid());
  opts.verbose = !cfg.quiet;
  opts.pin_process = cfg.pin_cpus;
  opts.data_dir = cfg.data_dir;
  opts.server_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(cfg.server_timeout_s));
  opts.reconnect_timeout = std::chrono::seconds(cfg.reconnect_timeout_s);
  if (cfg.scheduling == "batch" && !schedule_process_as_batch() && !cfg.quiet)
    fmt::print(stderr, "dsq worker: note: the OS refused SCHED_BATCH; the worker runs under "
                       "its default policy\n");
  if (!cfg.pin_cpus && cfg.placement == "spread") {
    // Before the worker computes anything: the processes of this host share its CPUs evenly.
    const int slot = claim_host_cpu_slot(host_cpu_slot_dir());
    const int cpu = pin_process_to_cpu_slot(slot);
    if (cpu >= 0 && !cfg.quiet)
      fmt::print("dsq worker: runs on CPU {} (slot {} of this host; --placement=os: anywhere)\n",
                 cpu, slot);
  }
  opts.in_middleman = true; // alone in this process: no thread hand-off per message
  if (cfg.reconnect_timeout_s > 0) {
    // A lost server: keep the state, reach the address again (a supervisor restarts the server
    // with --resume meanwhile), through a new fault link when the plan has one.
    const auto h = host;
    const auto p = static_cast<std::uint16_t>(port);
    const auto timeout = std::chrono::seconds(cfg.reconnect_timeout_s);
    opts.on_server_lost = [&sys, h, p, timeout, faults](caf::actor worker) {
      auto through_link = [&sys, faults, worker](caf::actor new_server) {
        auto new_end = server_end(sys, new_server, faults);
        if (new_end != new_server)
          attach_worker(new_end, worker); // before the worker hears of the link
        return new_end;
      };
      reconnect_worker(
          sys, h, p, timeout, [] { return stop_requested.load(); },
          through_link)(std::move(worker));
    };
  }
  auto end = server_end(sys, server, faults);
  auto worker = spawn_worker(sys, end, std::move(opts));
  if (end != server)
    attach_worker(end, worker);
  auto reason = wait_for(sys, worker, caf::make_message(leave_atom::value));
  if (faults) {
    fmt::print("dsq worker: faults injected {}\n", faults->counts_json());
    if (!finish_fault_log(faults))
      return 1;
  }
  if (reason && reason != caf::exit_reason::normal && reason != caf::exit_reason::user_shutdown)
    return fail(describe(sys, reason));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "{}", usage);
    return 2;
  }
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    fmt::print("{}\n{}", usage, exit_codes);
    return 0;
  }
  if (command == "--version" || command == "version") {
    fmt::print("dsq {}\n", DSQ_VERSION);
    return 0;
  }
  if (command != "local" && command != "server" && command != "worker") {
    fmt::print(stderr, "dsq: error: unknown command '{}' (expected local, server or worker)\n",
               command);
    return 2;
  }
  const auto which = command == "local"    ? dsq_command::local
                     : command == "server" ? dsq_command::server
                                           : dsq_command::worker;
  dsq_options opts;
  register_message_types(opts);
  apply_runtime_defaults(opts, role_of_command(command)); // the user's settings win
  auto parsed = parse_options({argv + 2, argv + argc}, opts, which);
  if (parsed.version) {
    fmt::print("dsq {}\n", DSQ_VERSION);
    return 0;
  }
  if (parsed.help) {
    if (parsed.printed)
      return 0;
    fmt::print("{}\n{}\n{}{}\n{}", command_usage(which), opts.options_help(which),
               which == dsq_command::worker ? "" : std::string{spec_syntax_help()} + "\n",
               exit_codes,
               caf_options_help(command, runtime_default_arguments(role_of_command(command))));
    return 0;
  }
  if (!parsed.ok) {
    fmt::print(stderr, "dsq: error: {}\n", parsed.error);
    return 2;
  }
  // The kernels' SIMD level is chosen before anything runs: a DSQ_SIMD this machine cannot
  // honour is refused here in one line, like a bad option, not later inside an actor.
  try {
    active_simd_level();
  } catch (const simd_level_error& e) {
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 2;
  }
  // Plain TCP connections send at once and read ahead (net/transport/eager_tcp.hpp) unless
  // --tcp=caf.
  if (opts.run.tcp == "eager")
    opts.load<caf::io::middleman, eager_multiplexer>();
  else
    opts.load<caf::io::middleman>();
  if (command != "local") {
    const tls_files tls{opts.run.tls_cert, opts.run.tls_key, opts.run.tls_ca};
    try {
      check_tls_files(tls);
      if (command == "server")
        check_bind_address(opts.run.bind, tls.enabled(), opts.run.insecure);
    } catch (const std::exception& e) {
      fmt::print(stderr, "dsq: error: {}\n", e.what());
      return 2;
    }
    configure_transport(opts, tls);
  }
  // The fault plan is checked before anything runs: a bad value is a bad option.
  fault_plan plan;
  try {
    plan = make_fault_plan(opts.faults);
    if (command == "local")
      check_local_plan(plan, opts.run.workers, opts.run.checkpoint);
  } catch (const config_error& e) {
    fmt::print(stderr, "dsq: error: {}\n", e.what());
    return 2;
  }
  install_signal_handlers();
  int code = 0;
  try {
    // No plan and no log: no injector, so the run takes exactly the fault-free path.
    std::shared_ptr<fault_injector> faults;
    if (!plan.empty() || !opts.faults.log.empty())
      faults = std::make_shared<fault_injector>(plan, opts.faults.log); // opens --fault-log
    caf::actor_system sys{opts};
    if (command == "local")
      code = run_local_command(sys, opts.run, faults);
    else if (command == "server")
      code = run_server_command(sys, opts.run, faults);
    else
      code = run_worker_command(sys, opts.run, faults);
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
    return fail(e.what());
  }
  return code;
}
