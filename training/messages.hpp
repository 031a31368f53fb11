#pragma once

// What the server and a worker say to each other, as plain data: the protocol's messages that
// carry no actor handle. The cores (server_core, worker_core) read and write these;
// net/protocol/messages.hpp adds the CAF side (the hello with its actor handle, and the inspection
// that serializes them).

#include "config/run_config.hpp"
#include "model/data_identity.hpp"
#include "training/membership.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/worker_snapshot.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// Bumped whenever a message below changes shape; server and worker must agree on it.
inline constexpr std::uint32_t protocol_version = 10;

/// The shards of a run (--servers=K, key_ranges.hpp), as the welcome of shard 0 tells a worker:
/// empty in an unsharded run.
struct shard_map {
  std::vector<key_range> ranges;      ///< shard k owns ranges[k]; size K, or empty
  std::vector<std::string> endpoints; ///< "host:port" of shard k (k >= 1; "" within a process)

  /// The number of shards (1 for an unsharded run).
  std::uint32_t count() const {
    return ranges.empty() ? 1 : static_cast<std::uint32_t>(ranges.size());
  }
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
  /// The data the server trains on (its concrete spec, never `auto`, shape and fingerprint): a
  /// worker loads that spec and is refused if what it loaded differs.
  data_identity data;
  /// Sharded runs: the shard that sent this welcome; `model` and `momentum` are its key range.
  std::uint32_t from_shard = 0;
  /// Sharded runs (shard 0's welcome): every shard's range and where to reach it.
  shard_map shards;
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
  /// Sharded runs: the shard this push goes to; `payload` compresses that shard's key range.
  std::uint32_t shard = 0;
  /// Sharded runs with --verify-replicas, inside the worker's process only (never sent): the
  /// digest of each key range of x_step; the multiplexer sends range k's as slice k's
  /// model_digest, which shard k checks against its range.
  std::vector<std::uint64_t> range_digests;
};

/// Server -> every worker, with update_atom: the compressed update c that turns x_{version-1}
/// into x_version. One message object is shared by all recipients.
struct model_update {
  std::uint64_t version = 0;
  std::vector<std::uint8_t> payload; ///< compressed_message in its wire format
  /// Sharded runs: the shard that made it; `payload` updates that shard's key range.
  std::uint32_t shard = 0;
};

/// Worker -> server, with data_atom: a welcomed worker without the run's data asks for chunk
/// `index` of the training set the welcome named (net/PROTOCOL.md, "Data from the server").
struct data_request {
  std::uint64_t fingerprint = 0; ///< the welcome's data.train_fingerprint: which data set
  std::uint64_t index = 0;       ///< the chunk: bytes [index · chunk_bytes, ...) of the layout
  std::uint32_t chunk_bytes = 0; ///< the chunk size, within [data_chunk_min, data_chunk_max]
  /// Chunks this worker holds: the server sends none while `data_window` of its chunks are not
  /// yet counted here.
  std::uint64_t received = 0;
};

/// Server -> worker, with chunk_atom: the answer to a data_request, bytes [offset, offset +
/// bytes.size()) of the training set's layout (model/dataset_bytes.hpp), `total` bytes in all.
struct data_chunk {
  std::uint64_t fingerprint = 0;
  std::uint64_t index = 0;
  std::uint64_t offset = 0;
  std::uint64_t total = 0;
  std::vector<std::uint8_t> bytes;
};

/// The bounds of a data chunk's size: far below any message limit a run can have (a server's
/// limit is at least 1 MiB more than its largest message), and large enough that a round trip
/// per chunk costs little.
inline constexpr std::uint32_t data_chunk_min = 4 * 1024;
inline constexpr std::uint32_t data_chunk_max = 512 * 1024;
/// The chunks a server sends a worker ahead of those it knows arrived (data_request::received).
inline constexpr std::uint64_t data_window = 4;

/// Server -> worker, with reject_atom or shutdown_atom: why the worker must stop.
struct farewell {
  std::string reason;
  bool error = false;      ///< the worker should exit non-zero
  bool may_rejoin = false; ///< removed for silence: a worker that wakes up may register anew
};

} // namespace dsq
