#pragma once

// Who takes part in a run: worker ids, workers waiting to enter, their shards and the
// generation of the shard assignment, and the caps on how many may take part.
//
// Plain C++ over any handle type (caf::actor in the server, an int in tests), so that the
// rules can be tested without actors.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// Which part of the training set a worker samples from: shard `index` of `count`, under the
/// membership numbered `generation` (bumped at every join or departure).
struct shard_assignment {
  std::uint64_t generation = 0;
  std::uint32_t index = 0;
  std::uint32_t count = 1;
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

  /// Removes worker `id` wherever it is; a removed member changes the shard assignment.
  removal remove(std::uint32_t id) {
    if (joining_.erase(id) > 0)
      return removal::joiner;
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
  std::map<std::uint32_t, shard_assignment> assign_shards() {
    std::vector<std::uint32_t> ids;
    for (auto& [id, m] : members_)
      ids.push_back(id);
    for (auto& [id, m] : joining_)
      ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ++generation_;
    changed_ = false;
    std::map<std::uint32_t, shard_assignment> result;
    const auto n = static_cast<std::uint32_t>(ids.size());
    for (std::uint32_t i = 0; i < n; ++i)
      result[ids[i]] = shard_assignment{generation_, i, n};
    return result;
  }

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
  std::uint64_t generation() const { return generation_; }

private:
  std::uint64_t max_workers_;
  std::size_t train_size_;
  group members_;
  group joining_;
  std::uint32_t next_id_ = 0;
  std::uint64_t generation_ = 0;
  bool changed_ = false;
};

} // namespace dsq
