#pragma once

// The parameter server: a thin actor over its core (training/server/server_core.hpp), which
// holds the rules of a run (membership, the round policy, the update engine, push checks, the
// resender's ring and ledger, liveness, checkpoints, the reporter). The actor receives, sends,
// arms timers, monitors connections and checks who sent what.
//
// Protocol (net/PROTOCOL.md has the whole picture):
//   <- worker   (register_atom, worker_hello)   refused: protocol mismatch, run over, full,
//                                               a hello for another actor; else an id. The worker
//                                               enters when training starts (--min-workers), at
//                                               the next step boundary (sync) or at once (async)
//   -> worker   (welcome_atom, welcome)         id, config, x_version in full precision, shard
//   -> worker   (grant_atom, version, number)   async: compute one gradient on x_(>= version)
//   <- worker   (push_atom, gradient_push)      only from the actor that registered that id;
//                                               decoded and validated (operator, dimension,
//                                               finite, norm): a bad push removes its worker;
//                                               offered to the round policy, which may ignore it
//                                               (duplicate, other step, no grant) or hold it
//   -> workers  (reshard_atom, shard_assignment) after membership changed: at the next step
//                                               boundary (sync), at once (async)
//   -> workers  (update_atom, model_update)     each update the policy releases:
//                                               v = w Σ c⁽ⁱ⁾ + δ; c = C[v]; δ ← v − c;
//                                               x ← x − γ c; version + 1
//   <- worker   (heartbeat_atom)                liveness; a worker silent for --worker-timeout
//                                               is removed (summary `timeouts`)
//   <- worker   (starting_atom)                 it loads its data: not timed out until its
//                                               next message (at most the start-up allowance)
//   <- worker   (leave_atom, id) or its down_msg  leaves; its outstanding work is released;
//                                               a leave is answered with a farewell
//   <- local    (stop_atom)                     stop early (only from this process)
//   <- local    down_msg of CAF's BASP broker   (dsq server, opts.network_layer) no peer
//                                               reachable: end as a crash would, keeping the
//                                               last checkpoint
//   <- self     (lost_atom, address, reason)    a worker's down_msg, one mailbox turn later
//   -> workers  (shutdown_atom, farewell)       when the run ends (dsq server: quits once their
//                                               connections closed, or after 2 s)

#include "config/run_config.hpp"
#include "training/server/run_outcome.hpp"
#include "training/server/server_setup.hpp"
#include "training/training_setup.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace dsq {

/// The server's options: what its core reads (server_setup) and how it runs as an actor.
struct server_options : server_setup {
  /// false: the server runs on CAF's scheduler (e.g. under the test coordinator).
  bool detached = true;
  /// true (dsq server): the server is a broker and runs in the middleman's thread, which hands
  /// it the workers' messages and takes its updates without a thread wake-up
  /// (docs/network.md). Needs the middleman; wins over `detached`.
  bool in_middleman = false;
  /// dsq server: CAF's BASP broker (net/transport/transport.hpp, network_layer). The server
  /// monitors it and, when it ends, ends at once without a checkpoint, before it acts on the
  /// connections lost with it. None: nothing is monitored (dsq local, tests).
  caf::actor network_layer;
};

/// Options for cfg and setup; loads and checks the checkpoint named by cfg.resume (throws
/// std::runtime_error naming the problem).
server_options make_server_options(const run_config& cfg, training_setup setup);

/// Spawns the parameter server and its evaluator (the server: in the middleman's thread if
/// opts.in_middleman, else detached unless opts.detached is false; the evaluator detached).
caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts);

} // namespace dsq
