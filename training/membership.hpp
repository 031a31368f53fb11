#pragma once

// Who takes part in a run: worker ids, workers waiting to enter, their shards and the
// generation of the shard assignment, and the caps on how many may take part.
//
// Plain C++ over any handle type (caf::actor in the server, an int in tests), so that the
// rules can be tested without actors.
//
// A server resumed from a checkpoint restores the membership it kept (membership_snapshot):
// the members of the checkpoint come back under their old ids (admit_returning), and when
// exactly they have returned, they get back exactly the shards they had, under the same
// generation, so that their samplers continue where they stood.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsq {

/// Which part of the training set a worker samples from: shard `index` of `count`, under the
/// membership numbered `generation` (bumped at every join or departure).
struct shard_assignment {
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  std::uint32_t count = 1;

  /// Same generation, index and count.
  friend bool operator==(const shard_assignment&, const shard_assignment&) = default;
};

/// What a checkpoint keeps of the membership: the ids handed out, the generation of the shard
/// assignment, and who the members were with their shards.
struct membership_snapshot {
  std::uint32_t next_id = 0;                         ///< the id the next new worker gets
  std::uint64_t generation = 0;                      ///< of the last shard assignment
  std::map<std::uint32_t, shard_assignment> members; ///< member ids, in order, and their shards

  /// Equal in every field.
  friend bool operator==(const membership_snapshot&, const membership_snapshot&) = default;
};

/// The workers of a run: `members` take part in training; `joining` were admitted and enter at
/// the next point where the run's mode lets them (a step boundary in sync mode, at once in async).
template <class Handle>
class membership {
public:
  /// One worker: how to reach it, and where it runs (for logs).
  struct member {
    Handle handle;
    std::string host;
    shard_assignment shard = {}; ///< from the last assign_shards() that included it
  };

  using group = std::map<std::uint32_t, member>;

  /// `max_workers` = 0: no cap. `train_size`: every worker needs at least one sample.
  membership(std::uint64_t max_workers, std::size_t train_size)
      : max_workers_(max_workers), train_size_(train_size) {}

  /// Why another worker cannot be admitted now, or nothing if it can.
  std::optional<std::string> refusal() const {
    if (max_workers_ > 0 && seats_taken() >= max_workers_)
      return "the server is full (" + std::to_string(max_workers_) + " workers)";
    if (seats_taken() >= train_size_)
      return std::string{"every training sample already has a worker"};
    return std::nullopt;
  }

  /// Admits a worker (check refusal() first): it gets the next id and waits in joining().
  std::uint32_t admit(Handle handle, std::string host) {
    auto id = next_id_++;
    joining_.emplace(id, member{std::move(handle), std::move(host)});
    return id;
  }

  /// What remove() found.
  enum class removal { none, member, joiner };

  /// Removes worker `id` wherever it is; a removed member changes the shard assignment. A
  /// returning worker removed before it entered is expected again (its state is still good).
  removal remove(std::uint32_t id) {
    if (joining_.erase(id) > 0) {
      if (restored_ && restored_->members.count(id) > 0)
        expected_.insert(id);
      return removal::joiner;
    }
    if (members_.erase(id) > 0) {
      changed_ = true;
      return removal::member;
    }
    return removal::none;
  }

  /// True when the shards must be assigned anew before the next update: a member left, or
  /// workers wait to join.
  bool needs_reshard() const { return changed_ || !joining_.empty(); }

  /// Shard i of n for members and joiners together, in id order, under a new generation:
  /// every sample belongs to exactly one live worker.
  ///
  /// Except the first assignment after restore() when exactly the snapshot's members take
  /// part: each gets back the very shard it had (same generation), so its sampler continues
  /// unchanged. If a member had left after that assignment (the snapshot's shards are not i of
  /// n), the uninterrupted run had a new assignment pending for its next step: needs_reshard()
  /// stays true, and the next call makes it, as that run did. Any other set of workers gets a
  /// new generation at once.
  std::map<std::uint32_t, shard_assignment> assign_shards() {
    std::vector<std::uint32_t> ids;
    for (auto& [id, m] : members_)
      ids.push_back(id);
    for (auto& [id, m] : joining_)
      ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    const auto n = static_cast<std::uint32_t>(ids.size());
    std::map<std::uint32_t, shard_assignment> result;
    if (restored_ && n > 0 && restored_->members.size() == n &&
        std::equal(ids.begin(), ids.end(), restored_->members.begin(),
                   [](std::uint32_t id, const auto& kv) { return id == kv.first; })) {
      result = restored_->members;
      changed_ = !is_current(*restored_);
    } else {
      ++generation_;
      changed_ = false;
      for (std::uint32_t i = 0; i < n; ++i)
        result[ids[i]] = shard_assignment{generation_, i, n};
    }
    restored_.reset(); // only the first assignment after a restore may give back old shards
    for (auto* g : {&members_, &joining_})
      for (auto& [id, m] : *g)
        m.shard = result[id];
    return result;
  }

  /// The state a checkpoint keeps: next id, generation, members and their shards. Joiners are
  /// not in it: they had not started to train.
  membership_snapshot snapshot() const {
    membership_snapshot s;
    s.next_id = next_id_;
    s.generation = generation_;
    for (const auto& [id, m] : members_)
      s.members.emplace(id, m.shard);
    return s;
  }

  /// Continues from `s` (the membership must be empty, as at the start of a resumed run): new
  /// workers get ids from s.next_id on, and the members of `s` are expected back
  /// (admit_returning). Throws std::logic_error if workers were already admitted, and
  /// std::invalid_argument for a snapshot whose member ids are not below its next id.
  void restore(const membership_snapshot& s) {
    if (!members_.empty() || !joining_.empty())
      throw std::logic_error("membership::restore: workers were admitted before the restore");
    if (!s.members.empty() && s.members.rbegin()->first >= s.next_id)
      throw std::invalid_argument(
          "membership snapshot: member id " + std::to_string(s.members.rbegin()->first) +
          " was never handed out (next id " + std::to_string(s.next_id) + ")");
    next_id_ = s.next_id;
    generation_ = s.generation;
    changed_ = false;
    expected_.clear();
    for (const auto& [id, shard] : s.members)
      expected_.insert(id);
    restored_ = s;
  }

  /// Admits a worker that took part before the restore under its old id, if that id is
  /// expected back (check refusal() first, as for admit()): it waits in joining() like any
  /// joiner. Nothing if the id is not expected; the caller then admits it as a new worker.
  std::optional<std::uint32_t> admit_returning(std::uint32_t previous_id, Handle handle,
                                               std::string host) {
    if (expected_.erase(previous_id) == 0)
      return std::nullopt;
    joining_.emplace(previous_id, member{std::move(handle), std::move(host)});
    return previous_id;
  }

  /// Ids of the restored members that have not returned yet.
  const std::set<std::uint32_t>& expected() const { return expected_; }

  /// Gives up on the members that have not returned: they are admitted as new workers if they
  /// come back later. The server does not call it (a member given up on still gets its id back,
  /// only not its state: server_core); kept because tests/training/test_membership_restore.cpp
  /// pins the rule and existing tests stay unchanged in this restructuring.
  void stop_expecting() { expected_.clear(); }

  /// Moves every joiner into members; returns them (id order) for their welcome.
  group enter_joiners() {
    group entered;
    entered.swap(joining_);
    for (auto& [id, m] : entered)
      members_.emplace(id, m);
    return entered;
  }

  /// The id of the worker reached through `handle`, among members and joiners.
  template <class Pred>
  std::optional<std::uint32_t> find_if(Pred pred) const {
    for (const auto* g : {&members_, &joining_})
      for (const auto& [id, m] : *g)
        if (pred(m.handle))
          return id;
    return std::nullopt;
  }

  /// Member or joiner `id`, or nullptr.
  const member* get(std::uint32_t id) const {
    if (auto it = members_.find(id); it != members_.end())
      return &it->second;
    if (auto it = joining_.find(id); it != joining_.end())
      return &it->second;
    return nullptr;
  }

  bool is_member(std::uint32_t id) const { return members_.count(id) > 0; }
  const group& members() const { return members_; }
  const group& joining() const { return joining_; }
  std::size_t seats_taken() const { return members_.size() + joining_.size(); }
  /// Ids handed out so far: every worker that took part.
  std::uint32_t ids_given() const { return next_id_; }
  /// The generation of the last assignment (read by tests; the shards carry it to workers).
  std::uint64_t generation() const { return generation_; }

private:
  /// True when `s`'s members hold shard i of n, in id order, of its generation: the assignment
  /// was still in force (no member had left since it was made).
  static bool is_current(const membership_snapshot& s) {
    const auto n = static_cast<std::uint32_t>(s.members.size());
    std::uint32_t i = 0;
    for (const auto& [id, shard] : s.members)
      if (shard != shard_assignment{s.generation, i++, n})
        return false;
    return true;
  }

  std::uint64_t max_workers_;
  std::size_t train_size_;
  group members_;
  group joining_;
  std::uint32_t next_id_ = 0;
  std::uint64_t generation_ = 0;
  bool changed_ = false;
  std::set<std::uint32_t> expected_;
  /// The snapshot of the last restore(), until the first assign_shards() after it.
  std::optional<membership_snapshot> restored_;
};

} // namespace dsq
