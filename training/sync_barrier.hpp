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

private:
  std::set<std::uint32_t> members_;
  std::map<std::uint32_t, received_push> pushes_; ///< for the current step, in worker-id order
};

} // namespace dsq
