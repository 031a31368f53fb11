#pragma once

// The synchronous barrier of Algorithm 1: step t completes when every live member has pushed a
// gradient computed on x_t; the update averages those pushes (n = the pushes averaged, which
// keeps a push whose worker left before the step completed).

#include "training/round_policy.hpp"

#include <map>
#include <set>

namespace dsq {

class sync_barrier final : public round_policy {
public:
  void enter(std::uint32_t id, std::uint64_t version) override;
  void leave(std::uint32_t id) override;
  bool offer(received_push p, std::uint64_t version) override;
  std::optional<round> next(std::uint64_t version, std::size_t live) override;
  std::vector<grant> grants(std::uint64_t version, std::uint64_t remaining) override;
  bool has_pending_pushes() const override { return !pushes_.empty(); }
  bool owes_push(std::uint32_t id) const override {
    return members_.count(id) > 0 && pushes_.count(id) == 0;
  }
  /// A join or departure waits for the next step: every update is a boundary.
  bool changes_membership_at_once() const override { return false; }
  /// Only when no step is in progress (no member, no push waiting).
  bool lets_joiner_in_now(std::size_t members) const override {
    return members == 0 && pushes_.empty();
  }
  /// The pushes averaged: a push of a worker that left before the step completed counts.
  std::uint32_t row_workers(std::size_t, std::size_t pushes) const override {
    return static_cast<std::uint32_t>(pushes);
  }
  bool collects_worker_states() const override { return true; }
  /// One push per step.
  std::uint64_t push_key(std::uint64_t step, std::uint64_t) const override { return step; }
  /// A step the server has reached (a late push is expected, and ignored by offer).
  bool issued(std::uint32_t, std::uint64_t step, std::uint64_t,
              std::uint64_t version) const override {
    return step <= version;
  }
  std::int64_t staleness_bound() const override { return -1; }
  std::string describe() const override { return "sync"; }

private:
  std::set<std::uint32_t> members_;
  std::map<std::uint32_t, received_push> pushes_; ///< for the current step, in worker-id order
};

} // namespace dsq
