#pragma once

// Bounded-staleness admission for the asynchronous variant (docs/algorithm.md): pushes are applied
// one at a time, and no applied push ever has staleness (server version when applied − version
// its gradient was computed on) above τ. net/PROTOCOL.md explains the rule and why it holds.
//
// In short: a worker computes only with a grant. A grant issued at version g is a promise that
// the push will be applied at a version <= g + τ, its deadline. The set of outstanding grants
// (granted, not yet applied) is kept schedulable: sorted by deadline, the k-th (k = 1, 2, ...)
// can still be applied at version V + k − 1. A new grant is issued only if that stays true
// (it has the latest deadline, so: fewer than τ + 1 outstanding), and a received push is
// applied only if the other outstanding grants stay schedulable at V + 1; otherwise it is held.
// The earliest-deadline grant can always be applied, so a held push waits only for pushes that
// are due before it: for their arrival or for their worker's departure, which releases them.

#include "training/round_policy.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <set>

namespace dsq {

class staleness_admission final : public round_policy {
public:
  /// τ >= 0.
  explicit staleness_admission(std::uint64_t tau);

  void enter(std::uint32_t id, std::uint64_t version) override;
  void leave(std::uint32_t id) override;
  bool offer(received_push p, std::uint64_t version) override;
  std::optional<round> next(std::uint64_t version, std::size_t live) override;
  std::vector<grant> grants(std::uint64_t version, std::uint64_t remaining) override;
  bool has_pending_pushes() const override;
  bool owes_push(std::uint32_t id) const override { return computing_.count(id) > 0; }
  std::optional<grant> open_grant(std::uint32_t id) const override {
    auto it = computing_.find(id);
    if (it == computing_.end())
      return std::nullopt;
    return grant{id, outstanding_.at(it->second).deadline - tau_, it->second};
  }
  void add_statistics(run_summary& s) const override;
  /// Joins and departures re-shard at once: there is no step to wait for.
  bool changes_membership_at_once() const override { return true; }
  bool lets_joiner_in_now(std::size_t) const override { return true; }
  /// Every member: each contributes to the stream of updates.
  std::uint32_t row_workers(std::size_t members, std::size_t) const override {
    return static_cast<std::uint32_t>(members);
  }
  /// No: the pushes of one version are applied at different versions.
  bool collects_worker_states() const override { return false; }
  /// The grant's number: two grants of a worker may name the same version.
  std::uint64_t push_key(std::uint64_t, std::uint64_t number) const override { return number; }
  /// The grant the worker holds (its number), on a version the server has made.
  bool issued(std::uint32_t id, std::uint64_t step, std::uint64_t number,
              std::uint64_t version) const override {
    auto it = computing_.find(id);
    return it != computing_.end() && it->second == number && step <= version;
  }
  std::int64_t staleness_bound() const override { return static_cast<std::int64_t>(tau_); }
  std::string describe() const override;

  // Observers for tests (tests/training/test_round_policy.cpp): the summary gets the same
  // numbers through add_statistics().

  /// Grants issued and not yet applied or released.
  std::size_t outstanding() const { return outstanding_.size(); }
  /// Times a received push was held because applying it would have broken the bound.
  std::uint64_t held_pushes() const { return held_; }

private:
  struct gradient {
    std::uint32_t worker = 0;
    std::uint64_t deadline = 0; ///< grant version + τ: applied at a version <= this
    std::optional<received_push> push;
    bool counted_as_held = false;
  };
  using clock = std::chrono::steady_clock;

  /// True if the outstanding grants, less `skip`, can all meet their deadlines from `version`.
  bool schedulable(std::uint64_t version, std::uint64_t skip) const;

  std::uint64_t tau_;
  std::uint64_t next_seq_ = 0;
  std::map<std::uint64_t, gradient> outstanding_;    ///< by grant number: issue order
  std::map<std::uint32_t, std::uint64_t> computing_; ///< worker -> its grant not yet pushed
  struct ready_worker {
    std::uint32_t id = 0;
    clock::time_point since;
    bool passed_over = false; ///< a grants() pass left it waiting: it waits for admission
  };
  std::deque<ready_worker> ready_;     ///< waiting for a grant, first come first served
  std::deque<std::uint64_t> arrivals_; ///< grants whose push arrived, in arrival order
  std::set<std::uint32_t> members_;
  std::uint64_t waits_ = 0, held_ = 0;
  double wait_s_ = 0;
};

} // namespace dsq
