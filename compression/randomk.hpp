#pragma once

#include "compression/compressor.hpp"
#include "compression/sparsity.hpp"

namespace dsq {

/// Keeps k coordinates chosen uniformly at random and zeroes the rest.
///
/// Unscaled it is biased (E[C[v]] = (k/d) v); with `unbiased` the kept values are multiplied by
/// d/k so that E[C[v]] = v, at the price of E‖C[v] − v‖² = (d/k − 1)‖v‖². With `shared_seed`
/// the message carries a 64-bit seed instead of the k indices (64 + 32k bits), and the decoder
/// regenerates the indices from it.
class randomk_compressor final : public compressor {
public:
  explicit randomk_compressor(sparsity k, bool unbiased = false, bool shared_seed = false) noexcept
      : k_(k), unbiased_(unbiased), shared_seed_(shared_seed) {}

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  bool unbiased() const override { return unbiased_; }
  std::string spec() const override;

  const sparsity& k() const noexcept { return k_; }
  bool shared_seed() const noexcept { return shared_seed_; }

private:
  sparsity k_;
  bool unbiased_;
  bool shared_seed_;
};

} // namespace dsq
