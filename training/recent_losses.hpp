#pragma once

// Tells a run that blows up from a worker that misbehaves. A push too large for the norm bound
// (push_check.hpp) normally means a bad worker; when its loss is also far above the losses of
// recent pushes, the shared model itself is diverging and the run, not the worker, must end.

#include <algorithm>
#include <cmath>
#include <deque>
#include <vector>

namespace dsq {

/// The minibatch losses of recent applied pushes: a push too large for the norm bound whose
/// loss is also far above them comes from a run that is blowing up, not from a bad worker.
class recent_losses {
public:
  /// An applied push's minibatch loss; the last 64 are kept.
  void add(float loss) {
    losses_.push_back(loss);
    if (losses_.size() > 64)
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

private:
  std::deque<float> losses_;
};

} // namespace dsq
