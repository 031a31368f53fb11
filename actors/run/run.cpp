// include/dsq/run.hpp's runs from code: each in an actor system of its own, with the program's
// checks and no signal handler; words go to the observer.

#include "actors/run/run_commands.hpp"

#include "config/cli/dsq_options.hpp"
#include "config/cli/runtime_defaults.hpp"
#include "net/protocol/register_types.hpp"

#include <caf/all.hpp>

#include <stdexcept>

namespace dsq {

namespace {

/// The observer's side of a run_context: lines to on_log, notes too, errors into the result.
run_context context_of(const run_observer& observer) {
  run_context ctx;
  ctx.console.line = observer.on_log;
  ctx.console.note = observer.on_log;
  ctx.on_row = observer.on_row;
  ctx.on_listening = observer.on_listening;
  return ctx;
}

/// Runs `command` with `cfg` in an actor system of its own. Throws what the program exits 2 for
/// (config_error and the other std::invalid_argument); other failures go into the result.
template <class Command>
run_result run_in_own_system(const run_config& cfg, dsq_command command, Command run) {
  validate(cfg);
  check_for_command(cfg, command);
  check_before_running(cfg, command);
  dsq_options opts;
  register_message_types(opts);
  apply_runtime_defaults(opts, role_of_command(command == dsq_command::local    ? "local"
                                               : command == dsq_command::server ? "server"
                                                                                : "worker"));
  opts.run = cfg;
  prepare_system(opts, command);
  run_result result;
  try {
    caf::actor_system sys{opts};
    run(sys, result);
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    result.ok = false;
    result.error = e.what();
  }
  return result;
}

} // namespace

run_result run_local(const run_config& cfg, const run_observer& observer,
                     std::shared_ptr<const model> model, std::shared_ptr<const data_source> data) {
  return run_in_own_system(cfg, dsq_command::local, [&](caf::actor_system& sys, run_result& r) {
    local_command(sys, cfg, context_of(observer), r, std::move(model), std::move(data));
  });
}

run_result run_server(const run_config& cfg, const run_observer& observer) {
  return run_in_own_system(cfg, dsq_command::server, [&](caf::actor_system& sys, run_result& r) {
    // 2: the program's exit code for a bad option found once the model is known
    // (--max-message-bytes below the run's largest message).
    if (server_command(sys, cfg, context_of(observer), r) == 2)
      throw config_error(r.error);
  });
}

run_result run_worker(const run_config& cfg, const run_observer& observer) {
  return run_in_own_system(cfg, dsq_command::worker, [&](caf::actor_system& sys, run_result& r) {
    worker_command(sys, cfg, context_of(observer), r);
  });
}

} // namespace dsq
