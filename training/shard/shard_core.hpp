#pragma once

// A follower shard (shards 1..K−1 of --servers=K) as a state machine without actors: events
// (the leader's set-up, membership notices and round commits, the workers' registrations, slice
// pushes, probes and status) go in with the time they happened, effects (shard_effects.hpp) come
// out. The actor (S4's adapter) receives, sends and keeps the time; the rules are here, tested in
// tests/training/test_shard_core.cpp. net/PROTOCOL.md "Shards" states the protocol.
//
// A follower owns its key range (x_k, δ_k, momentum slice, downlink stream) and decides nothing
// about membership, grants or the order of rounds: it takes slice pushes of the workers the
// leader announced, tells the leader which it holds, and makes version v when the leader commits
// it, from the pushes and in the order the commit names. It has no liveness of its own.

#include "training/push_check.hpp"
#include "training/received_push.hpp"
#include "training/resend/catch_up_budget.hpp"
#include "training/resend/push_ledger.hpp"
#include "training/resend/resend_allowance.hpp"
#include "training/resend/update_ring.hpp"
#include "training/round_policy.hpp"
#include "training/server/server_core.hpp"
#include "training/shard/shard_effects.hpp"
#include "training/update_engine.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// Where a follower keeps its slice files (its own --checkpoint and --resume, on its own host;
/// training/shard/slice_checkpoint.hpp). Empty: none given.
struct shard_storage {
  std::string checkpoint; ///< where the leader's slice_save orders write
  std::string resume;     ///< where the slice file a resumed leader names is read
};

class shard_core {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Shard `shard` of `shards` (1 <= shard < shards), reached by workers at `endpoint`, keeping
  /// its slice files in `storage`.
  shard_core(std::uint32_t shard, std::uint32_t shards, std::string endpoint,
             shard_storage storage = {});

  /// The join to send to the leader.
  shard_effects start();

  // -- events from the leader (one ordered channel) -------------------------------------------

  /// The leader's set-up: configuration, ranges, this shard's slice at its version. A set-up
  /// that does not fit (another K, a slice of the wrong size, a second set-up) stops the shard.
  shard_effects set_up(const shard_setup& s, time_point now);
  /// A worker joins at version v (its slice is x_v until it registers) or is gone; with
  /// `resync`, a member gets this shard's slice at x_v as its part of the leader's resync.
  shard_effects member_changed(const member_change& m, time_point now);
  /// Make version c.version from the pushes c names; commits apply strictly in version order.
  shard_effects committed(const round_commit& c, time_point now);
  /// Write this shard's slice state at o.version (it is there: the order follows that commit on
  /// the leader's channel) and confirm with slice_saved; a write that fails is confirmed as
  /// failed and stops the shard.
  shard_effects save_ordered(const slice_save& o, time_point now);
  /// Krum with K > 1: the partial squared distances of the pushes `q` names over this shard's
  /// range, to the leader; those pushes are kept for the commit of q.version whatever happens
  /// to their workers meanwhile. A push this shard does not hold is refused to the leader.
  shard_effects distances_asked(const distance_query& q, time_point now);
  /// The run ends: the report goes to the leader and the shard stops.
  shard_effects ended(const shard_end& e, time_point now);
  /// The leader's connection is gone: the shard stops as failed (no leader, no run).
  shard_effects leader_lost(const std::string& why);

  // -- events from workers ---------------------------------------------------------------------

  /// A worker's registration (returning = true, previous_id = the id the leader gave it).
  shard_effects registered(const registration& r, time_point now);
  /// A slice push; `from` must be the member it names.
  shard_effects pushed(std::optional<peer_id> from, const gradient_push& p, time_point now);
  /// A worker asks what became of its push (`pushed`: key + 1, or 0).
  shard_effects probed(std::optional<peer_id> from, std::uint64_t pushed, time_point now);
  /// A worker lacks this shard's updates after `held`.
  shard_effects status(std::optional<peer_id> from, std::uint64_t held, time_point now);
  /// A worker's connection closed: only noted (the leader decides departures).
  shard_effects connection_closed(peer_id peer, time_point now);
  /// The payload of a slice update that no recipient and no resend needs any more, for the next
  /// update's bytes (update_engine::recycle_payload); dropped before the set-up. No effect.
  void recycle_update(std::vector<std::uint8_t> bytes) noexcept;

  // -- what the actor and tests may read ------------------------------------------------------

  std::uint32_t shard() const { return shard_; }
  /// True once set up.
  bool is_set_up() const { return engine_ != nullptr; }
  /// The slice's version (0 before the set-up).
  std::uint64_t version() const { return engine_ ? engine_->version() : 0; }
  /// The slice x_version (empty before the set-up).
  std::vector<float> slice() const;
  /// The worker id of a registered `peer`.
  std::optional<std::uint32_t> worker_of(peer_id peer) const;
  /// Pushes of worker `id` held and not yet committed.
  std::size_t held(std::uint32_t id) const;
  /// The counters of the report.
  const shard_report& report() const { return report_; }

private:
  struct announced {
    std::uint64_t version = 0;                ///< it enters at x_version
    std::optional<std::vector<float>> slice;  ///< x_version, once this shard reached it
    std::optional<std::vector<float>> moment; ///< its momentum slice
    std::optional<peer_id> peer;              ///< registered, waiting for the slice
  };

  void apply_ready_commits();
  void resume_from_file(const shard_setup& s);
  received_push* find_push(std::uint64_t version, std::uint32_t worker, std::uint64_t key);
  void apply_commit(const round_commit& c);
  void snapshot_entries();
  void send_ordered_resyncs();
  void welcome_ready(std::uint32_t id);
  void catch_up(std::uint32_t id, std::uint64_t held);
  bool within_allowance(std::uint32_t id, std::uint64_t bytes);
  std::optional<std::uint32_t> member_of(std::optional<peer_id> from) const;
  welcome make_welcome(std::uint32_t id, std::vector<float> slice, std::vector<float> moment,
                       std::uint64_t version) const;
  void forget(std::uint32_t id);
  void fail(std::string why);
  void send(std::uint32_t id, worker_message what);
  void to_lead(leader_message m) { out_.push_back(to_leader{std::move(m)}); }
  shard_effects take();

  std::uint32_t shard_, shards_;
  std::string endpoint_;
  shard_storage storage_;
  run_config cfg_;
  std::vector<key_range> ranges_;
  std::uint64_t total_steps_ = 0;
  std::unique_ptr<update_engine> engine_;
  std::unique_ptr<round_policy> keys_; ///< only for push_key: the run's rule for push keys
  std::optional<push_check> checks_;
  update_ring ring_;
  push_ledger ledger_;
  catch_up_budget budget_;
  std::optional<resend_allowance> allowance_;
  std::map<std::uint32_t, peer_id> members_; ///< registered and welcomed
  std::map<std::uint32_t, announced> announced_;
  /// Resyncs the leader ordered: member -> the version whose slice it gets.
  std::map<std::uint32_t, std::uint64_t> resync_orders_;
  /// Registrations of workers not (yet) announced: the leader's notice may come after them.
  std::map<std::uint32_t, registration> early_;
  /// Slice pushes held, by worker and push key.
  std::map<std::uint32_t, std::map<std::uint64_t, received_push>> held_;
  /// Krum with K > 1: the pushes a distance query named, by the version it asked for, kept
  /// for that version's commit (a departure meanwhile must not take them away).
  std::map<std::uint64_t, std::map<std::pair<std::uint32_t, std::uint64_t>, received_push>>
      queried_;
  /// Commits that came before the one they follow (a leader sends them in order; kept anyway).
  std::map<std::uint64_t, round_commit> commits_;
  time_point now_{};
  bool stopped_ = false;
  shard_report report_;
  shard_effects out_;
};

} // namespace dsq
