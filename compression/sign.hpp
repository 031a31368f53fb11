#pragma once

#include "compression/compressor.hpp"

#include <cstdint>

namespace dsq {

/// 1-bit compression: C[v]_j = s_b · sign(v_j), with sign(0) = +1 and s_b = ‖v_b‖₁ / |b| the mean
/// magnitude of the block b holding j. Without a block size the whole vector is one block.
///
/// This scale minimises ‖C[v] − v‖² over all scales for fixed signs, which gives
/// ‖C[v] − v‖² = Σ_b (‖v_b‖₂² − ‖v_b‖₁² / |b|) ≤ ‖v‖₂². Biased; d + 32 · blocks bits.
class sign_compressor final : public compressor {
public:
  /// block = 0: one scale for the whole vector.
  explicit sign_compressor(std::uint32_t block = 0) noexcept : block_(block) {}

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  void compress_into(std::span<const float> v, rng_engine& rng,
                     compressed_message& out) const override;
  /// acc += g (one float addition per coordinate), then out = C[acc], in one pass over acc:
  /// error feedback's v = g + δ and its compression, bit for bit the same as the addition
  /// followed by compress_into(). Throws std::invalid_argument if the sizes differ.
  void add_and_compress_into(std::span<float> acc, std::span<const float> g,
                             compressed_message& out) const;
  bool unbiased() const override { return false; }
  std::string spec() const override;

  std::uint32_t block() const noexcept { return block_; }

private:
  std::uint32_t block_;
};

} // namespace dsq
