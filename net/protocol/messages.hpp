#pragma once

// The protocol's messages as CAF sees them: the hello (which carries the worker's actor) and the
// inspection (serialization) of every message; the plain data is training/messages.hpp.

#include "config/run_config.hpp"
#include "config/run_limits.hpp"
#include "net/protocol/bounded_bytes.hpp"
#include "net/protocol/capped_list.hpp"
#include "net/protocol/capped_words.hpp"
#include "net/protocol/exact_floats.hpp"
#include "training/messages.hpp"
#include "training/shard/shard_messages.hpp"

#include <caf/actor.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// The most shards (--servers) a message may describe; longer lists are refused before they
/// are read.
inline constexpr std::size_t max_wire_shards = 1024;

/// The most pushes one round_commit may name (one per worker of a round; --max-workers is far
/// below).
inline constexpr std::size_t max_wire_round_pushes = 1 << 16;

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

// -- inspection (serialization) ---------------------------------------------------------------
// Every float and double goes through exact() (net/protocol/exact_floats.hpp), every byte field
// from the network through bounded() (net/protocol/bounded_bytes.hpp): CAF 0.17's own ways are
// unsafe for both.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_config& x) {
  return f(caf::meta::type_name("run_config"), x.model, x.dataset, x.shard, x.method, x.compressor,
           x.uplink, x.downlink, x.uplink_residual, x.downlink_residual, x.mode, x.staleness,
           x.slow_worker, exact(x.target_accuracy), x.workers, x.steps, exact(x.epochs), x.batch,
           exact(x.lr), x.lr_schedule, exact(x.momentum), x.seed, x.eval_every, x.verify_replicas,
           x.metrics, x.summary, x.quiet, x.port, x.bind, x.server, x.min_workers, x.max_workers,
           x.checkpoint, x.checkpoint_every, x.resume, x.connect_timeout_s, x.reconnect_timeout_s,
           x.pin_cpus, exact(x.worker_timeout_s), exact(x.max_push_norm), x.servers);
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
           x.rng, x.shard, capped(x.sampler_state, max_state_words));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, data_identity& x) {
  return f(caf::meta::type_name("data_identity"), x.spec, x.train_fingerprint, x.test_fingerprint,
           x.train_samples, x.test_samples, x.features, x.classes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_range& x) {
  return f(caf::meta::type_name("key_range"), x.begin, x.end);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_map& x) {
  return f(caf::meta::type_name("shard_map"), capped_list(x.ranges, max_wire_shards),
           capped_list(x.endpoints, max_wire_shards));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, welcome& x) {
  return f(caf::meta::type_name("welcome"), x.worker_id, x.config, x.version, x.total_steps,
           exact(x.model), exact(x.momentum), x.shard, x.state_every, x.has_state, x.state, x.data,
           x.from_shard, x.shards);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gradient_push& x) {
  return f(caf::meta::type_name("gradient_push"), x.worker_id, x.step, exact(x.loss),
           x.model_digest, x.grant, bounded(x.payload), x.has_state, x.state, x.shard);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_update& x) {
  return f(caf::meta::type_name("model_update"), x.version, bounded(x.payload), x.shard);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, data_request& x) {
  return f(caf::meta::type_name("data_request"), x.fingerprint, x.index, x.chunk_bytes, x.received);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, data_chunk& x) {
  return f(caf::meta::type_name("data_chunk"), x.fingerprint, x.index, x.offset, x.total,
           bounded(x.bytes));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, farewell& x) {
  return f(caf::meta::type_name("farewell"), bounded(x.reason), x.error, x.may_rejoin);
}

// -- between shards (training/shard/shard_messages.hpp) ---------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_join& x) {
  return f(caf::meta::type_name("shard_join"), x.shard, x.shards, x.protocol, bounded(x.endpoint));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_setup& x) {
  return f(caf::meta::type_name("shard_setup"), x.config, capped_list(x.ranges, max_wire_shards),
           x.version, x.total_steps, exact(x.slice), exact(x.momentum), x.resume, x.resume_digest,
           bounded(x.aggregate));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_held& x) {
  return f(caf::meta::type_name("slice_held"), x.shard, x.worker, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_refused& x) {
  return f(caf::meta::type_name("slice_refused"), x.shard, x.worker, x.key, bounded(x.why),
           x.resync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, round_commit& x) {
  return f(caf::meta::type_name("round_commit"), x.version, exact(x.weight),
           capped_list(x.workers, max_wire_round_pushes),
           capped_list(x.keys, max_wire_round_pushes),
           capped_list(x.chosen, max_wire_round_pushes)); // chosen: Krum with K > 1
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_change& x) {
  return f(caf::meta::type_name("member_change"), x.worker, x.version, x.joined, x.resync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_end& x) {
  return f(caf::meta::type_name("shard_end"), x.failed, bounded(x.why));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_report& x) {
  return f(caf::meta::type_name("shard_report"), x.shard, x.bytes_in, x.bytes_out, x.updates);
}

// -- checkpoints of a sharded run --

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_save& x) {
  return f(caf::meta::type_name("slice_save"), x.version, x.keep);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_saved& x) {
  return f(caf::meta::type_name("slice_saved"), x.shard, x.version, x.digest, bounded(x.failure));
}

// protocol 10
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slice_traffic& x) {
  return f(caf::meta::type_name("slice_traffic"), x.shard, x.version, x.bytes_in, x.bytes_out);
}

// -- Krum with K > 1 (protocol 10) --

/// The most distances one distance_reply may hold: those of a round of every seat.
inline constexpr std::size_t max_wire_distances =
    max_sharded_krum_seats * (max_sharded_krum_seats - 1) / 2;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, distance_query& x) {
  return f(caf::meta::type_name("distance_query"), x.version,
           capped_list(x.workers, max_sharded_krum_seats),
           capped_list(x.keys, max_sharded_krum_seats));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, distance_reply& x) {
  return f(caf::meta::type_name("distance_reply"), x.shard, x.version,
           exact(x.distances, max_wire_distances), bounded(x.refused));
}

} // namespace dsq
