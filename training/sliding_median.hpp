#pragma once

// The median of the last N values of a stream. The server asks for it on every push it checks
// (push_check.hpp), on the one thread that receives the pushes, aggregates and sends updates, so
// the window is kept sorted as values come and go instead of being copied and partially sorted
// for each question; no allocation either.

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

namespace dsq {

/// The last `N` values added (never NaN: they must be ordered), with their median as a lookup.
template <class T, std::size_t N>
class sliding_median {
public:
  static_assert(N > 0);

  /// Adds `value`, dropping the oldest value once `N` are kept.
  void add(T value) {
    if (size_ == N) {
      // Overwrite the oldest value's slot in the sorted copy, then move it to its place.
      const T oldest = arrival_[next_];
      T* slot = std::lower_bound(sorted_.data(), sorted_.data() + size_, oldest);
      *slot = value;
      restore_order(slot);
    } else {
      sorted_[size_] = value;
      restore_order(sorted_.data() + size_);
      ++size_;
    }
    arrival_[next_] = value;
    next_ = (next_ + 1) % N;
  }

  /// How many values are kept (at most `N`).
  std::size_t size() const { return size_; }

  /// The element at position size() / 2 of the kept values in ascending order (the upper
  /// median for an even count); size() must be positive.
  T median() const { return sorted_[size_ / 2]; }

  /// The kept values, oldest first: adding them to an empty window gives this one back.
  std::vector<T> in_arrival_order() const {
    std::vector<T> out;
    out.reserve(size_);
    const std::size_t oldest = size_ == N ? next_ : 0;
    for (std::size_t k = 0; k < size_; ++k)
      out.push_back(arrival_[(oldest + k) % N]);
    return out;
  }

private:
  // One value at `slot` may be out of place; a shift in either direction puts it back.
  void restore_order(T* slot) {
    const T* end = sorted_.data() + size_ + (size_ < N ? 1 : 0);
    while (slot != sorted_.data() && slot[-1] > slot[0]) {
      std::swap(slot[-1], slot[0]);
      --slot;
    }
    while (slot + 1 != end && slot[1] < slot[0]) {
      std::swap(slot[1], slot[0]);
      ++slot;
    }
  }

  std::array<T, N> arrival_{}; ///< ring in arrival order; arrival_[next_] is the oldest when full
  std::array<T, N> sorted_{};  ///< the same values, ascending, in the first size_ slots
  std::size_t size_ = 0;
  std::size_t next_ = 0;
};

} // namespace dsq
