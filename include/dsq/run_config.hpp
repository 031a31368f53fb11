#pragma once

// A run's configuration: the options of `dsq local`, `dsq server` and `dsq worker` as a plain
// struct, and the check the command line applies to it (validate). docs/usage.md describes each
// option; the field names are the options' names with '_' for '-'.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dsq {

/// Everything that defines a training run. The server's copy is the one that counts: it is sent
/// to every worker when it registers, so workers on other hosts train with the same settings.
struct run_config {
  // -- what is trained ------------------------------------------------------------------------
  std::string model = "mlp"; ///< model spec, e.g. "softmax", "mlp:hidden=256,128"
  std::string dataset =
      "auto"; ///< auto (MNIST if fetched, else synthetic), mnist, synthetic, libsvm:path=F, ...
  std::string shard = "shuffled"; ///< how samples are split among workers: contiguous | shuffled
  /// Node-local: directory searched for data after the working directory (before the installed
  /// data and the repository's data/); empty: $DSQ_DATA_DIR. See model/data_locations.hpp.
  std::string data_dir;
  /// Node-local, dsq worker: where the run's data comes from, local | server | auto
  /// (config/data_origin.hpp).
  std::string data_origin = "auto";

  // -- how it is trained ----------------------------------------------------------------------
  std::string method = "doublesqueeze"; ///< preset: sgd | compressed | ef-worker | doublesqueeze
  std::string compressor = "sign";      ///< the operator C of the preset, on both passes
  std::string uplink;                   ///< overrides the uplink operator of the preset
  std::string downlink;                 ///< overrides the downlink operator of the preset
  std::string uplink_residual;          ///< "on" | "off" overrides the preset; empty keeps it
  std::string downlink_residual;        ///< "on" | "off" overrides the preset; empty keeps it
  std::string mode = "sync";            ///< sync (Algorithm 1) | async (bounded staleness)
  std::int64_t staleness = -1;          ///< τ of async mode; -1: not given (async: 4)
  std::string slow_worker;              ///< stragglers "ID:FACTOR[,ID:FACTOR...]"
  /// Node-local, server: how a step's pushes are combined, mean | median | trimmed-mean:f=F
  /// (config/aggregate_rule.hpp); sync mode only
  std::string aggregate = "mean";
  double target_accuracy = 0; ///< end at the first evaluation reaching it (0: none)
  std::uint64_t workers = 4;
  std::int64_t steps = -1; ///< -1: derived from epochs, or default_steps when neither is given
  double epochs = 0;
  std::uint64_t batch = 32; ///< per worker
  double lr = 0.1;
  std::string lr_schedule = "constant";
  double momentum = 0;
  std::uint64_t seed = 1;
  std::uint64_t eval_every = 1000;   ///< 0: only at the end
  std::uint64_t verify_replicas = 0; ///< compare worker replicas with the server's every K steps
  /// Parameter-server shards K (--servers): the model's coordinates split into K key ranges,
  /// one per shard (docs/usage.md, net/PROTOCOL.md "Shards"); 1: unsharded.
  std::uint64_t servers = 1;

  // -- outputs --------------------------------------------------------------------------------
  std::string metrics; ///< CSV file, one row per step
  std::string summary; ///< JSON file written at the end
  bool quiet = false;  ///< no progress lines

  // -- across hosts ---------------------------------------------------------------------------
  std::uint16_t port = 0;
  std::string bind = "127.0.0.1";
  /// Node-local, dsq server: this process is shard k (1..K−1) of a sharded run, a follower of
  /// the leader at `leader`; 0: the leader (or an unsharded server).
  std::uint64_t shard_index = 0;
  std::string leader; ///< HOST:PORT of shard 0, for a follower (--shard-index)
  /// Node-local, follower: the host workers dial to reach it (default: --bind).
  std::string advertise;
  std::string server;                 ///< HOST:PORT, for `dsq worker`
  std::uint64_t min_workers = 0;      ///< 0: same as workers
  std::uint64_t max_workers = 0;      ///< 0: default_worker_cap, or more (worker_cap)
  std::string checkpoint;             ///< directory for the server's checkpoint
  std::uint64_t checkpoint_every = 0; ///< also checkpoint every K steps (0: only at the end)
  std::string resume;                 ///< directory of a checkpoint to start from
  std::uint64_t connect_timeout_s = 10;
  /// dsq worker: after losing the server, seconds to retry reaching it (a restarted server
  /// gives the worker its identity back) before giving up; 0: give up at once
  std::uint64_t reconnect_timeout_s = 60;
  /// dsq server: once training started, seconds with no worker at all after which the server
  /// writes its checkpoint (with --checkpoint) and ends as failed; 0: wait for ever
  std::uint64_t idle_timeout_s = 300;
  /// dsq server / dsq worker: every thread of the process on one CPU (the server on the first,
  /// worker i on the (i+1)-th, modulo the CPUs allowed), for processes sharing one host
  bool pin_cpus = false;
  /// Node-local, dsq worker: "spread" (each worker process of a host on its own CPU slot, the
  /// lowest free one, round-robin over the CPUs allowed) or "os" (where the OS puts it).
  /// --pin-cpus wins over it.
  std::string placement = "spread";
  /// Node-local, dsq worker: "batch" (the kernel's SCHED_BATCH: waking, the worker does not
  /// preempt the running thread) or "normal".
  std::string scheduling = "batch";
  /// Node-local, dsq server / dsq worker: "eager" (connections that send at once and read
  /// ahead, net/transport/eager_tcp.hpp) or "caf" (CAF 0.17's own). TLS connections are always
  /// CAF's.
  std::string tcp = "eager";
  double worker_timeout_s = 30; ///< a worker silent this long is removed (0: never)
  /// Node-local, dsq worker: a worker waiting for the server (an update, a grant, the answer to
  /// its push) whose probe goes unanswered this long gives up (0: never)
  double server_timeout_s = 60;
  double max_push_norm = 0; ///< bound on a push's norm (0: automatic, see push_check.hpp)
  /// Node-local: the largest message a peer may announce, in bytes (0: dsq server derives it
  /// from the model, net/transport/message_size_limit.hpp; dsq worker then has none)
  std::uint64_t max_message_bytes = 0;
  // Node-local, never sent to workers: this node's TLS identity (net/transport/transport.hpp).
  std::string tls_cert;  ///< PEM certificate this node presents
  std::string tls_key;   ///< PEM private key of tls_cert
  std::string tls_ca;    ///< PEM certificate of the CA that signs every node's certificate
  bool insecure = false; ///< dsq server: allow a non-loopback --bind without TLS
};

/// Default number of steps when neither --steps nor --epochs is given.
inline constexpr std::uint64_t default_steps = 6000;

/// A configuration problem, with a message that names the option at fault.
class config_error : public std::invalid_argument {
public:
  using std::invalid_argument::invalid_argument;
};

/// Checks every value that can be checked without data; throws config_error naming the option.
void validate(const run_config& cfg);

} // namespace dsq
