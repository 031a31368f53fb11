#include "actors/local_run.hpp"

#include "actors/worker.hpp"

#include "net/atoms.hpp"

#include <caf/all.hpp>

#include <chrono>

namespace dsq {

run_outcome run_local(caf::actor_system& sys, const run_config& cfg, training_setup setup,
                      bool verbose, const std::atomic<bool>* stop) {
  auto opts = make_server_options(cfg, setup);
  opts.verbose = verbose;
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(sys, std::move(opts));
  caf::scoped_actor self{sys};
  self->monitor(server);
  spawn_local_workers(sys, server, setup, cfg.workers);
  bool done = false, stop_sent = false;
  while (!done)
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.reason && outcome->error.empty())
            outcome->error = sys.render(dm.reason);
          done = true;
        },
        // A stop (SIGINT/SIGTERM in dsq) ends the run as on a server: outputs are written.
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (stop != nullptr && *stop && !stop_sent) {
                self->send(server, stop_atom::value);
                stop_sent = true;
              }
            });
  return *outcome;
}

} // namespace dsq
