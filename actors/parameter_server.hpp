#pragma once

// The parameter server: a thin actor over the parts of training/ — membership (who takes part),
// the round policy (sync barrier or bounded-staleness admission), the update engine (x, δ,
// version), push_check (validation) and the reporter (metrics, summary, console).
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
#include "training/checkpoint.hpp"
#include "training/run_log.hpp"
#include "training/training_setup.hpp"

#include <Eigen/Core>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace dsq {

/// What a finished run leaves behind, for `dsq` and for tests.
struct run_outcome {
  bool ok = false;
  std::string error;
  bool network_lost = false;     ///< ended because CAF's network layer did (`error` says so)
  Eigen::VectorXf model;         ///< the server's x at the end
  std::vector<step_record> rows; ///< the last rows, or all of them (server_options::rows)
  run_summary summary;
};

struct server_options {
  run_config cfg;
  training_setup setup;
  /// true for `dsq server`: when every worker is gone, wait for new ones instead of failing.
  bool elastic = false;
  bool verbose = true;
  /// false: the server runs on CAF's scheduler (e.g. under the test coordinator).
  bool detached = true;
  /// true (dsq server): the server is a broker and runs in the middleman's thread, which hands
  /// it the workers' messages and takes its updates without a thread wake-up
  /// (docs/network.md). Needs the middleman; wins over `detached`.
  bool in_middleman = false;
  /// true (dsq server): at the end, wait until every worker told to go has closed its
  /// connection (at most 2 s) before quitting; the process's exit would drop farewells still in
  /// the middleman's buffers, and their workers would try to reconnect.
  bool await_goodbyes = false;
  /// dsq server: CAF's BASP broker (net/transport.hpp, network_layer). The server monitors it
  /// and, when it ends, ends at once without a checkpoint, before it acts on the connections
  /// lost with it. None: nothing is monitored (dsq local, tests).
  caf::actor network_layer;
  /// The run's record, with --metrics already open (make_server_options); none: no file.
  std::shared_ptr<run_log> log;
  /// The rows the record keeps in memory, hence run_outcome::rows.
  row_memory rows = row_memory::last;
  /// Where to start from (--resume), already checked to fit the model.
  std::optional<checkpoint> resume_from;
  /// Filled in just before the server quits.
  std::shared_ptr<run_outcome> outcome = std::make_shared<run_outcome>();
  /// Called after every applied update with the new version; true: the server dies at once,
  /// without a goodbye or a checkpoint (it quits with exit_reason::kill). The fault plan's
  /// server-crash uses it; empty: never.
  std::function<bool(std::uint64_t version)> crash_hook;
  /// Read at the end for the summary's `faults_injected` ({kind: count}); empty: none.
  std::function<std::map<std::string, std::uint64_t>()> faults_injected;
};

/// Options for cfg and setup; loads and checks the checkpoint named by cfg.resume (throws
/// std::runtime_error naming the problem).
server_options make_server_options(const run_config& cfg, training_setup setup);

/// Spawns the parameter server and its evaluator (the server: in the middleman's thread if
/// opts.in_middleman, else detached unless opts.detached is false; the evaluator detached).
caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts);

} // namespace dsq
