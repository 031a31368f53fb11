#pragma once

// What the leader of a sharded run (--servers=K > 1, shard 0) knows of its followers, apart from
// the rules server_core applies: which followers joined and where workers reach them, which
// follower holds the slice of which push (a push counts only when all do), the replica of every
// follower's range (the followers' own updates, applied in version order) from which full
// models are evaluated, and the followers' reports at the end. Plain data and arithmetic: the
// order of events is server_core's (server_shards.cpp).

#include "config/run_config.hpp"
#include "training/messages.hpp"
#include "training/server/server_effects.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/shard_messages.hpp"
#include "training/update_engine.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace dsq {

/// Why a run of `shards` > 1 shards cannot have this configuration: Krum with more seats than
/// max_sharded_krum_seats, in one line naming the fix; nothing when it can (and always for 1
/// shard).
std::optional<std::string> sharding_refusal(const run_config& cfg, std::uint32_t shards);

/// The key ranges of a run of `dim` coordinates over `shards` shards: split_keys aligned to the
/// blocks of the run's uplink and downlink operators.
std::vector<key_range> run_ranges(const run_config& cfg, std::uint64_t dim, std::uint32_t shards);

class shard_leader {
public:
  /// The followers of a run of `ranges.size()` shards whose model is `x` (momentum `m`, nullptr
  /// without) at `version`.
  shard_leader(const run_config& cfg, std::vector<key_range> ranges, const Eigen::VectorXf& x,
               const Eigen::VectorXf* m, std::uint64_t version);

  /// K.
  std::uint32_t count() const { return static_cast<std::uint32_t>(ranges_.size()); }
  const std::vector<key_range>& ranges() const { return ranges_; }

  // -- joins ----------------------------------------------------------------------------------

  /// Why follower `j` may not join (another protocol, another K, a shard index out of range or
  /// taken), if it may not.
  std::optional<std::string> refusal_of(const shard_join& j) const;
  /// Follower `j` joined.
  void joined(const shard_join& j);
  /// True once all K−1 followers joined.
  bool all_joined() const { return endpoints_.size() + 1 == ranges_.size(); }
  /// Followers joined so far.
  std::size_t joined_count() const { return endpoints_.size(); }
  /// The set-up of follower `k`: `shared` (the run's configuration as workers get it), every
  /// range, its slice of x and momentum at the replica's version.
  shard_setup setup_for(std::uint32_t k, const run_config& shared, std::uint64_t total_steps) const;
  /// The leader resumed from a checkpoint naming `digests` ([k]: follower k's slice file): every
  /// set-up tells its follower to continue from that file.
  void resume_with(std::vector<std::uint32_t> digests) { resume_digests_ = std::move(digests); }
  /// The ranges and endpoints, for a welcome.
  shard_map map() const;

  // -- held slices ----------------------------------------------------------------------------

  /// Follower `shard` holds worker `worker`'s push `key`.
  void held(std::uint32_t shard, std::uint32_t worker, std::uint64_t key);
  /// True once every follower holds it.
  bool all_hold(std::uint32_t worker, std::uint64_t key) const;
  /// Worker `worker`'s push `key` was taken (or given up): its tallies up to `key` go.
  void taken(std::uint32_t worker, std::uint64_t key);
  /// Worker `worker` is gone.
  void forget(std::uint32_t worker);

  // -- the replica ----------------------------------------------------------------------------

  /// Follower `shard`'s update making `version` of its range (a wire payload). Applied in
  /// version order (an early one waits). Throws std::invalid_argument for a payload that does
  /// not decode to its range, or a version already made.
  void updated(std::uint32_t shard, std::uint64_t version, std::span<const std::uint8_t> payload);
  /// The replica of follower `shard`'s range (1 <= shard < K).
  const update_engine& replica(std::uint32_t shard) const { return *replica_.at(shard); }
  /// The version follower `shard`'s range has reached in the replica.
  std::uint64_t version_of(std::uint32_t shard) const { return replica_.at(shard)->version(); }
  /// The full model: range 0 from `own` (the leader's engine), the others as far as they got.
  Eigen::VectorXf latest(const Eigen::VectorXf& own) const;

  /// An evaluation of x_step (range 0 of it: `own`), answered by ready() once every range
  /// reached `step`.
  void want(std::uint64_t step, bool with_train, const Eigen::VectorXf& own);
  /// The evaluations whose every range is in, in the order they were wanted.
  std::vector<evaluation_request> ready();
  /// Drops the evaluations still waiting (a follower is lost); returns how many.
  std::size_t drop_waiting();

  // -- the end --------------------------------------------------------------------------------

  /// Follower `r.shard` reported.
  void reported(const shard_report& r);
  /// Follower `shard` is gone.
  void lost(std::uint32_t shard) { lost_.insert(shard); }
  bool is_lost(std::uint32_t shard) const { return lost_.count(shard) > 0; }
  bool any_lost() const { return !lost_.empty(); }
  /// True when every follower reported or is lost.
  bool all_reported() const;
  /// The reports so far, by shard.
  const std::map<std::uint32_t, shard_report>& reports() const { return reports_; }

private:
  struct waiting_evaluation {
    std::uint64_t step = 0;
    bool with_train = false;
    Eigen::VectorXf x;
    std::vector<bool> in; ///< range k is in
  };
  void fill(waiting_evaluation& e, std::uint32_t k, const Eigen::VectorXf& slice);

  std::vector<key_range> ranges_;
  std::map<std::uint32_t, std::string> endpoints_; ///< joined followers
  /// Followers holding each (worker, key).
  std::map<std::uint32_t, std::map<std::uint64_t, std::set<std::uint32_t>>> held_;
  std::vector<std::unique_ptr<update_engine>> replica_; ///< [k] for k >= 1; [0] unused
  std::map<std::uint32_t, std::map<std::uint64_t, compressed_message>> early_updates_;
  std::vector<waiting_evaluation> waiting_;
  std::map<std::uint32_t, shard_report> reports_;
  std::set<std::uint32_t> lost_;
  std::vector<std::uint32_t> resume_digests_; ///< empty: a new run
};

} // namespace dsq
