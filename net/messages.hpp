#pragma once

#include "config/run_config.hpp"
#include "net/bounded_bytes.hpp"
#include "net/exact_floats.hpp"
#include "training/membership.hpp"
#include "training/worker_snapshot.hpp"

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// Bumped whenever a message below changes shape; server and worker must agree on it.
inline constexpr std::uint32_t protocol_version = 4;

/// Worker -> server, with register_atom: who is asking to join.
struct worker_hello {
  std::uint32_t protocol = protocol_version;
  caf::actor worker;
  std::string host; ///< for logs only
  /// A worker that lost its server (or was removed and woke up) asks for `previous_id` back;
  /// a restarted server gives it, with the worker's state, if its checkpoint knows the id.
  bool returning = false;
  std::uint32_t previous_id = 0;
};

/// Server -> worker, with welcome_atom: everything a worker needs to take part from `version`
/// on. The model is sent in full precision so that the new replica equals the others exactly.
struct welcome {
  std::uint32_t worker_id = 0;
  run_config config;
  std::uint64_t version = 0;     ///< the model below is x_version
  std::uint64_t total_steps = 0; ///< the run ends when the version reaches this
  std::vector<float> model;
  std::vector<float> momentum; ///< the momentum buffer every replica carries (empty if none)
  shard_assignment shard;
  /// Sync runs with checkpoints: attach the worker's state to pushes whose step is a multiple
  /// of this (0: never), so that the server's checkpoint of that step holds it.
  std::uint64_t state_every = 0;
  /// A returning worker's own state from the server's checkpoint, to continue exactly.
  bool has_state = false;
  worker_snapshot state;
};

/// Worker -> server, with push_atom: the compressed gradient c⁽ⁱ⁾ computed on x_step.
/// (worker_id, step) identifies a push: a duplicate is ignored.
struct gradient_push {
  std::uint32_t worker_id = 0;
  std::uint64_t step = 0;
  float loss = 0;                    ///< minibatch loss at x_step, for the metrics
  std::uint64_t model_digest = 0;    ///< replica_digest(x_step), or 0 when not checked
  std::vector<std::uint8_t> payload; ///< compressed_message in its wire format
  /// Async: the number of the grant it was computed under (0 in sync). With the step, it tells
  /// a resend from a new push: two grants of a worker may name the same version.
  std::uint64_t grant = 0;
  /// The worker's state before it computed this gradient (see welcome::state_every).
  bool has_state = false;
  worker_snapshot state;
};

/// Server -> every worker, with update_atom: the compressed update c that turns x_{version-1}
/// into x_version. One message object is shared by all recipients.
struct model_update {
  std::uint64_t version = 0;
  std::vector<std::uint8_t> payload; ///< compressed_message in its wire format
};

/// Server -> worker, with reject_atom or shutdown_atom: why the worker must stop.
struct farewell {
  std::string reason;
  bool error = false;      ///< the worker should exit non-zero
  bool may_rejoin = false; ///< removed for silence: a worker that wakes up may register anew
};

// -- inspection (serialization) ---------------------------------------------------------------
// Every float and double goes through exact() (net/exact_floats.hpp), every byte field from the
// network through bounded() (net/bounded_bytes.hpp): CAF 0.17's own ways are unsafe for both.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_config& x) {
  return f(caf::meta::type_name("run_config"), x.model, x.dataset, x.shard, x.method, x.compressor,
           x.uplink, x.downlink, x.uplink_residual, x.downlink_residual, x.mode, x.staleness,
           x.slow_worker, exact(x.target_accuracy), x.workers, x.steps, exact(x.epochs), x.batch,
           exact(x.lr), x.lr_schedule, exact(x.momentum), x.seed, x.eval_every, x.verify_replicas,
           x.metrics, x.summary, x.quiet, x.port, x.bind, x.server, x.min_workers, x.max_workers,
           x.checkpoint, x.checkpoint_every, x.resume, x.connect_timeout_s, x.reconnect_timeout_s,
           x.pin_cpus, exact(x.worker_timeout_s), exact(x.max_push_norm));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_hello& x) {
  return f(caf::meta::type_name("worker_hello"), x.protocol, x.worker, bounded(x.host), x.returning,
           x.previous_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_assignment& x) {
  return f(caf::meta::type_name("shard_assignment"), x.generation, x.index, x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_snapshot& x) {
  return f(caf::meta::type_name("worker_snapshot"), x.worker_id, x.version, exact(x.residual),
           x.rng, x.shard, x.sampler_epoch, x.sampler_position);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, welcome& x) {
  return f(caf::meta::type_name("welcome"), x.worker_id, x.config, x.version, x.total_steps,
           exact(x.model), exact(x.momentum), x.shard, x.state_every, x.has_state, x.state);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gradient_push& x) {
  return f(caf::meta::type_name("gradient_push"), x.worker_id, x.step, exact(x.loss),
           x.model_digest, x.grant, bounded(x.payload), x.has_state, x.state);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_update& x) {
  return f(caf::meta::type_name("model_update"), x.version, bounded(x.payload));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, farewell& x) {
  return f(caf::meta::type_name("farewell"), bounded(x.reason), x.error, x.may_rejoin);
}

} // namespace dsq
