// dsq: DoubleSqueeze training on CAF actors.
//
//   dsq local  [options]   server and workers as actors of one process
//   dsq server [options]   publish the parameter server; train once --min-workers registered
//   dsq worker --server=HOST:PORT   join a server (its configuration is the one that counts)

#include "actors/local_run.hpp"
#include "actors/parameter_server.hpp"
#include "actors/worker.hpp"
#include "config/dsq_options.hpp"
#include "config/runtime_defaults.hpp"
#include "net/atoms.hpp"
#include "net/register_types.hpp"
#include "net/transport.hpp"

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

constexpr const char* usage = R"(usage: dsq <command> [--key=value ...] [--config=FILE]

commands:
  local    run the parameter server and --workers workers as actors of this process
  server   publish the parameter server on --bind:--port and train once --min-workers
           workers have registered; workers may join and leave while it trains
  worker   connect to --server=HOST:PORT, receive the run's configuration and the model, train

Options come from the command line and from the [global] section of an INI file given with
--config=FILE (the command line wins). Ready-made files are in config/.
Default run: DoubleSqueeze with 1-bit sign compression on both passes, 4 workers, an MLP on
MNIST (synthetic data if MNIST has not been fetched).
)";

std::atomic<bool> stop_requested{false};

extern "C" void on_signal(int) {
  stop_requested = true;
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

/// Waits for `target` to terminate; on SIGINT/SIGTERM sends it `on_stop` (once).
caf::error wait_for(caf::actor_system& sys, const caf::actor& target, caf::message on_stop) {
  caf::scoped_actor self{sys};
  self->monitor(target);
  caf::error reason;
  bool done = false;
  bool stop_sent = false;
  while (!done) {
    self->receive(
        [&](caf::down_msg& dm) {
          reason = dm.reason;
          done = true;
        },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (stop_requested && !stop_sent) {
                self->send(target, on_stop);
                stop_sent = true;
              }
            });
  }
  return reason;
}

int run_local_command(caf::actor_system& sys, const run_config& cfg) {
  auto setup = load_training(cfg);
  if (cfg.quiet && !setup.note.empty())
    fmt::print(stderr, "dsq: {}\n", setup.note);
  auto outcome = run_local(sys, cfg, std::move(setup), !cfg.quiet, &stop_requested);
  if (outcome.summary.diverged)
    return report_divergence(outcome);
  if (!outcome.ok)
    return fail(outcome.error);
  return 0;
}

int run_server_command(caf::actor_system& sys, const run_config& cfg) {
  auto opts = make_server_options(cfg, load_training(cfg));
  opts.elastic = true;
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  std::uint16_t port = 0;
  try {
    port = publish_server(sys, server, cfg.port, cfg.bind, cfg.insecure);
  } catch (const transport_error& e) {
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    return fail(e.what());
  }
  auto min_workers = cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
  fmt::print("dsq server: listening on {}:{}, waiting for {} workers\n", cfg.bind, port,
             min_workers);
  std::fflush(stdout);
  wait_for(sys, server, caf::make_message(stop_atom::value));
  if (outcome->summary.diverged)
    return report_divergence(*outcome);
  if (!outcome->ok)
    return fail(outcome->error);
  return 0;
}

int run_worker_command(caf::actor_system& sys, const run_config& cfg) {
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
  char name[256] = "unknown";
  gethostname(name, sizeof(name) - 1);
  worker_options opts;
  opts.host = fmt::format("{} pid {}", name, getpid());
  opts.verbose = !cfg.quiet;
  auto worker = spawn_worker(sys, server, std::move(opts));
  auto reason = wait_for(sys, worker, caf::make_message(leave_atom::value));
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
    fmt::print("{}", usage);
    return 0;
  }
  if (command != "local" && command != "server" && command != "worker") {
    fmt::print(stderr, "dsq: error: unknown command '{}' (expected local, server or worker)\n",
               command);
    return 2;
  }
  dsq_options opts;
  register_message_types(opts);
  opts.load<caf::io::middleman>();
  apply_runtime_defaults(opts, role_of_command(command)); // the user's settings win
  auto parsed = parse_options({argv + 2, argv + argc}, opts);
  if (parsed.help) {
    if (parsed.printed)
      return 0;
    fmt::print("{}\noptions:\n{}", usage, opts.options_help());
    return 0;
  }
  if (!parsed.ok) {
    fmt::print(stderr, "dsq: error: {}\n", parsed.error);
    return 2;
  }
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
  install_signal_handlers();
  int code = 0;
  try {
    caf::actor_system sys{opts};
    if (command == "local")
      code = run_local_command(sys, opts.run);
    else if (command == "server")
      code = run_server_command(sys, opts.run);
    else
      code = run_worker_command(sys, opts.run);
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
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return code;
}
