#pragma once

#include "compression/compressor.hpp"
#include "compression/sparsity.hpp"

namespace dsq {

/// Keeps the k coordinates of largest magnitude and zeroes the rest; among equal magnitudes
/// the lower index wins, so the result is a function of v alone. Biased, with
/// ‖C[v] − v‖² ≤ (1 − k/d)‖v‖². Indices (32 bits) and values (32 bits) for each kept coordinate.
///
/// Magnitudes are ordered by their float bit patterns, so NaN counts as larger than infinity.
class topk_compressor final : public compressor {
public:
  explicit topk_compressor(sparsity k) noexcept : k_(k) {}

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  bool unbiased() const override { return false; }
  std::string spec() const override { return "topk:k=" + k_.to_string(); }

  const sparsity& k() const noexcept { return k_; }

private:
  sparsity k_;
};

} // namespace dsq
