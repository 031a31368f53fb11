#include "actors/local_run.hpp"

#include "actors/worker.hpp"

#include <caf/all.hpp>

namespace dsq {

run_outcome run_local(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                      bool verbose) {
  auto opts = make_server_options(cfg, setup);
  opts.verbose = verbose;
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  caf::scoped_actor self{sys};
  self->monitor(server);
  spawn_local_workers(sys, server, setup, cfg.workers);
  self->receive([&](caf::down_msg& dm) {
    if (dm.reason && outcome->error.empty())
      outcome->error = sys.render(dm.reason);
  });
  return *outcome;
}

} // namespace dsq
