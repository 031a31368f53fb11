#pragma once

// The parameter server: owns membership, the barrier, the server residual δ and its own copy
// of x (for evaluation, checkpoints and workers that join).
//
// Protocol (see net/PROTOCOL.md for the whole picture):
//   <- worker   (register_atom, worker_hello)   protocol mismatch or cap reached -> reject;
//                                               else an id; the worker enters the barrier when
//                                               training starts (min-workers registered) or
//                                               at the next step boundary
//   -> worker   (welcome_atom, welcome)         id, config, x_version in full precision, shard
//   <- worker   (push_atom, gradient_push)      kept once per (worker, step); other steps and
//                                               duplicates are ignored and counted; a corrupt
//                                               payload removes the worker
//   -> workers  (reshard_atom, shard_assignment) at a step boundary after membership changed,
//                                               before the update of that boundary
//   -> workers  (update_atom, model_update)     once every live member pushed for step t:
//                                               v = (1/n) Σ c⁽ⁱ⁾ + δ; c = C[v]; δ ← v − c;
//                                               x ← x − γ c; version t+1
//   <- worker   (leave_atom, id) or its down_msg  leaves the barrier; the step completes with
//                                               the others (its residual is lost)
//   <- anyone   (stop_atom)                     stop early: tell workers, write outputs
//   -> workers  (shutdown_atom, farewell)       when the run ends
// Aggregation is O(n d): the server is spawned detached, and evaluation runs in the evaluator.

#include "training/checkpoint.hpp"
#include "training/run_log.hpp"
#include "training/training_setup.hpp"
#include "config/run_config.hpp"

#include <Eigen/Core>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <memory>
#include <optional>
#include <string>

namespace dsq {

/// What a finished run leaves behind, for `dsq` and for tests.
struct run_outcome {
  bool ok = false;
  std::string error;
  Eigen::VectorXf model; ///< the server's x at the end
  std::vector<step_record> rows;
  run_summary summary;
};

struct server_options {
  run_config cfg;
  training_setup setup;
  /// true for `dsq server`: when every worker is gone, wait for new ones instead of failing.
  bool elastic = false;
  bool verbose = true;
  /// The run's record, with --metrics already open (make_server_options); none: no file.
  std::shared_ptr<run_log> log;
  /// Where to start from (--resume), already checked to fit the model.
  std::optional<checkpoint> resume_from;
  /// Filled in just before the server quits.
  std::shared_ptr<run_outcome> outcome = std::make_shared<run_outcome>();
};

/// Options for cfg and setup; loads and checks the checkpoint named by cfg.resume (throws
/// std::runtime_error naming the problem).
server_options make_server_options(const run_config& cfg, training_setup setup);

/// Spawns the parameter server (detached) and its evaluator.
caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts);

} // namespace dsq
