// The three commands of dsq (moved from demos/dsq.cpp): the program and the functions of
// include/dsq/run.hpp run the same code, with their own run_context.

#include "actors/run/run_commands.hpp"

#include "actors/run/command_support.hpp"

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
#include "config/data_origin.hpp"
#include "model/data_identity.hpp"
#include "model/make_model.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/register_types.hpp"
#include "net/transport/eager_tcp.hpp"
#include "net/transport/message_size_limit.hpp"
#include "net/transport/transport.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace dsq {

namespace {

/// The run's outcome as run_result.
void take_outcome(const run_outcome& outcome, run_result& result) {
  result.ok = outcome.ok;
  result.error = outcome.error;
  result.summary = outcome.summary;
  result.model.assign(outcome.model.data(), outcome.model.data() + outcome.model.size());
}

int report_divergence(const run_context& ctx, const run_outcome& outcome, run_result& result) {
  const auto& s = outcome.summary;
  auto message = !outcome.error.empty() ? outcome.error
                 : s.diverged_at_step
                     ? fmt::format("training diverged at step {}", *s.diverged_at_step)
                     : std::string{"training diverged"};
  result.ok = false;
  result.error = message;
  if (ctx.console.error)
    ctx.console.error(message);
  return exit_diverged;
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
  opts.crash_hook = injected_crash_hook(faults, "dsq server", "");
}

/// Writes the fault log to disk at the end of a run; false (after saying why) on failure.
bool finish_fault_log(const run_context& ctx, run_result& result) {
  if (!ctx.faults)
    return true;
  try {
    ctx.faults->sync();
    return true;
  } catch (const std::exception& e) {
    result.ok = false;
    result.error = e.what();
    fail(ctx, e.what());
    return false;
  }
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

/// What a run trains when a program gives its own data source to run_local: cfg.model sized to
/// it, and its identity (data_identity.hpp), as load_training() does for a registered name.
training_setup setup_of(const run_config& cfg, std::shared_ptr<const data_source> data) {
  if (data->train_size() == 0)
    throw config_error("run_local: the data source has no training samples");
  if (data->input_dim() <= 0 || data->num_classes() < 2)
    throw config_error(fmt::format("run_local: the data source has {} features and {} classes "
                                   "(at least 1 and 2 needed)",
                                   data->input_dim(), data->num_classes()));
  training_setup setup;
  setup.identity = identify_source("program data", *data, cfg.seed);
  setup.net = make_model(cfg.model, data->input_dim(), data->num_classes());
  setup.source = std::move(data);
  return setup;
}

} // namespace

int local_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                  run_result& result, std::shared_ptr<const model> model,
                  std::shared_ptr<const data_source> data) {
  auto setup = data ? setup_of(cfg, std::move(data)) : load_training(cfg);
  if (model) {
    if (model->input_dim() != setup.source->input_dim() ||
        model->num_classes() != setup.source->num_classes())
      throw config_error(fmt::format(
          "run_local: the model takes {} features and {} classes, the data has {} and {}",
          model->input_dim(), model->num_classes(), setup.source->input_dim(),
          setup.source->num_classes()));
    setup.net = std::move(model);
  }
  if (cfg.quiet && !setup.note.empty())
    note(ctx, "dsq: " + setup.note);
  if (verbose(cfg, ctx) && !setup.data_note.empty())
    say(ctx, "dsq: " + setup.data_note);
  local_run_hooks hooks;
  hooks.on_row = ctx.on_row;
  hooks.on_line = ctx.console.line;
  auto outcome = run_local(sys, cfg, std::move(setup), verbose(cfg, ctx), ctx.stop, ctx.faults,
                           row_memory::last, std::move(hooks));
  take_outcome(outcome, result);
  if (outcome.summary.diverged)
    return report_divergence(ctx, outcome, result);
  if (!outcome.ok)
    return fail(ctx, outcome.error);
  return 0;
}

int server_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                   run_result& result) {
  if (cfg.shard_index > 0)
    return follower_command(sys, cfg, ctx, result);
  auto setup = load_training(cfg);
  if (verbose(cfg, ctx) && !setup.data_note.empty())
    say(ctx, "dsq: " + setup.data_note);
  auto opts = make_server_options(cfg, std::move(setup));
  opts.verbose = verbose(cfg, ctx);
  opts.on_line = ctx.console.line;
  opts.on_row = ctx.on_row;
  // Every connection refuses a header that announces more than this run can send, before
  // CAF's broker sizes a buffer for it (net/transport/message_size_limit.hpp); set before
  // publishing.
  const auto parameters = opts.setup.net->num_parameters();
  if (cfg.max_message_bytes != 0 && cfg.max_message_bytes < largest_run_message(parameters)) {
    auto message = fmt::format("--max-message-bytes={}: below the largest message of this run "
                               "({} bytes for {} parameters)",
                               cfg.max_message_bytes, largest_run_message(parameters), parameters);
    result.error = message;
    if (ctx.console.error)
      ctx.console.error(message);
    return 2;
  }
  set_message_size_limit(run_message_size_limit(parameters, cfg.max_message_bytes));
  if (largest_run_message(parameters) > limit_before_welcome)
    note(ctx, fmt::format("dsq server: note: this model's welcome ({} bytes) is larger than a "
                          "worker takes before it knows the model: start its workers with "
                          "--max-message-bytes={}",
                          largest_run_message(parameters), run_message_size_limit(parameters, 0)));
  opts.elastic = true;
  opts.in_middleman = true; // its workers' messages arrive there: no thread hand-off for them
  opts.network_layer = network_layer(sys);
  opts.await_goodbyes = true;
  inject_server_faults(opts, ctx.faults);
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
    result.error = e.what();
    return fail(ctx, e.what());
  }
  auto min_workers = cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
  say(ctx, fmt::format("dsq server: listening on {}:{}, waiting for {} workers", cfg.bind, port,
                       min_workers));
  if (ctx.on_listening)
    ctx.on_listening(port);
  auto reason = wait_for(sys, server, caf::make_message(stop_atom::value), ctx);
  take_outcome(*outcome, result);
  // One message CAF cannot decode ends its network layer for good (net/PROTOCOL.md): no worker
  // can be reached then, and the server, which watches it (opts.network_layer), ends at once,
  // resumable, rather than wait for ever.
  if (outcome->network_lost) {
    result.error =
        fmt::format("{}. {}", outcome->error,
                    cfg.checkpoint.empty() ? "Without --checkpoint the run cannot be resumed"
                                           : "Restart the server with --resume=" + cfg.checkpoint +
                                                 " (the workers reconnect within "
                                                 "--reconnect-timeout)");
    if (ctx.console.error)
      ctx.console.error(fmt::format("{}: exit {}", result.error, exit_network_lost));
    run_result ignored;
    finish_fault_log(ctx, ignored);
    return exit_network_lost;
  }
  if (outcome->summary.diverged)
    return report_divergence(ctx, *outcome, result);
  if (!outcome->ok) { // the server ended without an outcome: say why it ended
    result.error = !outcome->error.empty() ? outcome->error
                                           : "the parameter server ended: " + describe(sys, reason);
    return fail(ctx, result.error);
  }
  if (!finish_fault_log(ctx, result))
    return 1;
  return 0;
}

int worker_command(caf::actor_system& sys, const run_config& cfg, const run_context& ctx,
                   run_result& result) {
  auto failed = [&](const std::string& message) {
    result.ok = false;
    result.error = message;
    return fail(ctx, message);
  };
  auto colon = cfg.server.rfind(':');
  if (cfg.server.empty() || colon == std::string::npos)
    return failed("dsq worker needs --server=HOST:PORT");
  auto host = cfg.server.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(cfg.server.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    return failed("--server=" + cfg.server + ": invalid port");
  // The model, and with it the largest legitimate message, comes with the server's welcome:
  // until then a fixed limit, then the model's (issue 29: a fake server's header announcing
  // 1 GiB was allocated whole).
  set_message_size_limit(cfg.max_message_bytes != 0 ? cfg.max_message_bytes : limit_before_welcome);
  // The server may still be starting: retries for a bounded time, handshake included.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.connect_timeout_s);
  const auto* stop = ctx.stop;
  auto stopped = [stop] { return stop != nullptr && stop->load(); };
  caf::actor server;
  try {
    server = connect_to_server(sys, host, static_cast<std::uint16_t>(port), deadline, stopped);
  } catch (const transport_error& e) {
    failed(fmt::format("{} (--connect-timeout={})", e.what(), cfg.connect_timeout_s));
    if (ctx.exit_on_unreachable_server) {
      // The handshake given up on may still occupy CAF's I/O thread (OpenSSL retries it in a
      // loop), and the actor system's destructor would wait for it; nothing of the run exists
      // yet, so there is nothing to finish.
      std::fflush(stdout);
      std::_Exit(1);
    }
    return 1;
  }
  if (verbose(cfg, ctx))
    // Until the run starts this is all a user (or a log reading a pipe) sees.
    say(ctx,
        fmt::format("dsq worker: connected to {}; waiting for the server's welcome", cfg.server));
  char name[256] = "unknown";
  gethostname(name, sizeof(name) - 1);
  worker_options opts;
  opts.host = fmt::format("{} pid {}", name, getpid());
  opts.verbose = verbose(cfg, ctx);
  opts.on_line = ctx.console.line;
  opts.pin_process = cfg.pin_cpus;
  opts.data_dir = cfg.data_dir;
  opts.source = parse_data_origin(cfg.data_origin);
  opts.message_limit = cfg.max_message_bytes;
  opts.server_timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(cfg.server_timeout_s));
  opts.reconnect_timeout = std::chrono::seconds(cfg.reconnect_timeout_s);
  if (cfg.scheduling == "batch" && !schedule_process_as_batch() && !cfg.quiet)
    note(ctx, "dsq worker: note: the OS refused SCHED_BATCH; the worker runs under its default "
              "policy");
  if (!cfg.pin_cpus && cfg.placement == "spread") {
    // Before the worker computes anything: the processes of this host share its CPUs evenly.
    const int slot = claim_host_cpu_slot(host_cpu_slot_dir());
    const int cpu = pin_process_to_cpu_slot(slot);
    if (cpu >= 0 && verbose(cfg, ctx))
      say(ctx, fmt::format("dsq worker: runs on CPU {} (slot {} of this host; --placement=os: "
                           "anywhere)",
                           cpu, slot));
  }
  opts.in_middleman = true; // alone in this process: no thread hand-off per message
  // Sharded runs: the followers the leader's welcome names, reached as the leader is (TLS with
  // the run's CA when it is on), within --connect-timeout each.
  opts.connect_shard = [&sys, timeout = cfg.connect_timeout_s, stopped,
                        line = ctx.console.note](const std::string& endpoint) -> caf::actor {
    const auto c = endpoint.rfind(':');
    int p = -1;
    try {
      p = c == std::string::npos ? -1 : std::stoi(endpoint.substr(c + 1));
    } catch (const std::exception&) {
    }
    if (p <= 0 || p > 65535)
      return {};
    try {
      return connect_to_server(sys, endpoint.substr(0, c), static_cast<std::uint16_t>(p),
                               std::chrono::steady_clock::now() + std::chrono::seconds(timeout),
                               stopped);
    } catch (const transport_error& e) {
      if (line)
        line(fmt::format("dsq worker: cannot reach shard at {}: {}", endpoint, e.what()));
      return {};
    }
  };
  if (cfg.max_message_bytes == 0)
    opts.on_welcome = [](std::uint64_t parameters) {
      set_message_size_limit(run_message_size_limit(parameters, 0));
    };
  const auto& faults = ctx.faults;
  if (cfg.reconnect_timeout_s > 0) {
    // A lost server: keep the state, reach the address again (a supervisor restarts the server
    // with --resume meanwhile), through a new fault link when the plan has one.
    const auto h = host;
    const auto p = static_cast<std::uint16_t>(port);
    const auto timeout = std::chrono::seconds(cfg.reconnect_timeout_s);
    opts.on_server_lost = [&sys, h, p, timeout, faults, stopped](caf::actor worker) {
      auto through_link = [&sys, faults, worker](caf::actor new_server) {
        auto new_end = server_end(sys, new_server, faults);
        if (new_end != new_server)
          attach_worker(new_end, worker); // before the worker hears of the link
        return new_end;
      };
      reconnect_worker(sys, h, p, timeout, stopped, through_link)(std::move(worker));
    };
  }
  if (faults && faults->plan().has_message_faults())
    // Sharded runs: the message faults on every link, each follower's too (its own stream).
    opts.shard_end = [&sys, faults](const caf::actor& follower, std::uint32_t shard,
                                    const caf::actor& worker) {
      fault_link_options link;
      link.injector = faults;
      link.crash_exits_process = true;
      return link_to_follower(sys, follower, shard, worker, std::move(link));
    };
  auto end = server_end(sys, server, faults);
  auto worker = spawn_worker(sys, end, std::move(opts));
  if (end != server)
    attach_worker(end, worker);
  auto reason = wait_for(sys, worker, caf::make_message(leave_atom::value), ctx);
  if (faults) {
    say(ctx, fmt::format("dsq worker: faults injected {}", faults->counts_json()));
    if (!finish_fault_log(ctx, result))
      return 1;
  }
  if (reason && reason != caf::exit_reason::normal && reason != caf::exit_reason::user_shutdown)
    return failed(describe(sys, reason));
  result.ok = true;
  return 0;
}

void check_before_running(const run_config& cfg, dsq_command command) {
  // The kernels' SIMD level is chosen before anything runs: a DSQ_SIMD this machine cannot
  // honour is refused here in one line, like a bad option, not later inside an actor.
  try {
    active_simd_level();
  } catch (const simd_level_error& e) {
    throw config_error(e.what());
  }
  if (command == dsq_command::local)
    return;
  const tls_files tls{cfg.tls_cert, cfg.tls_key, cfg.tls_ca};
  try {
    check_tls_files(tls);
    if (command == dsq_command::server)
      check_bind_address(cfg.bind, tls.enabled(), cfg.insecure);
  } catch (const config_error&) {
    throw;
  } catch (const std::exception& e) {
    throw config_error(e.what());
  }
}

void prepare_system(dsq_options& opts, dsq_command command) {
  // Plain TCP connections send at once and read ahead (net/transport/eager_tcp.hpp) unless
  // --tcp=caf.
  if (opts.run.tcp == "eager")
    opts.load<caf::io::middleman, eager_multiplexer>();
  else
    opts.load<caf::io::middleman>();
  if (command != dsq_command::local)
    configure_transport(opts, tls_files{opts.run.tls_cert, opts.run.tls_key, opts.run.tls_ca});
}

} // namespace dsq
