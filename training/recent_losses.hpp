#pragma once

// Tells a run that blows up from a worker that misbehaves. A push too large for the norm bound
// (push_check.hpp) normally means a bad worker; when its loss is also far above the losses of
// recent pushes, the shared model itself is diverging and the run, not the worker, must end.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <deque>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsq {

/// How many recent losses the divergence check looks at.
inline constexpr std::size_t loss_window = 64;

/// What a kept loss may be: a finite number (a non-finite loss ends the run before it is kept).
inline bool is_push_loss(float loss) {
  return std::isfinite(loss);
}

/// The minibatch losses of recent applied pushes: a push too large for the norm bound whose
/// loss is also far above them comes from a run that is blowing up, not from a bad worker.
class recent_losses {
public:
  /// An applied push's minibatch loss; the last 64 are kept.
  void add(float loss) {
    losses_.push_back(loss);
    if (losses_.size() > loss_window)
      losses_.pop_front();
  }
  /// True if `loss` is not finite, or 100 times the median of the kept ones (once 8 are kept).
  bool exploded(float loss) const {
    if (!std::isfinite(loss))
      return true;
    if (losses_.size() < 8)
      return false;
    std::vector<float> sorted(losses_.begin(), losses_.end());
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    return loss > 100 * std::max(sorted[sorted.size() / 2], 1e-6f);
  }

  /// The kept losses, oldest first: what a checkpoint stores.
  std::vector<float> in_order() const { return {losses_.begin(), losses_.end()}; }

  /// Continues from `losses` (in_order() of the run resumed), so that a resumed server tells
  /// a run blowing up from a bad worker as the uninterrupted one would. Throws
  /// std::invalid_argument for a loss that is not finite.
  void restore(std::span<const float> losses) {
    for (float loss : losses)
      if (!is_push_loss(loss))
        throw std::invalid_argument("push loss " + std::to_string(loss) + " is not finite");
    for (float loss : losses)
      add(loss);
  }

private:
  std::deque<float> losses_;
};

} // namespace dsq
