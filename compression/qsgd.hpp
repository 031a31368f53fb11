#pragma once

#include "compression/compressor.hpp"

#include <cstdint>

namespace dsq {

/// QSGD with s levels (Alistarh et al.): C[v]_j = ‖v‖₂ · sign(v_j) · ζ_j / s, where ζ_j rounds
/// s|v_j|/‖v‖₂ to one of its two neighbouring integers in {0..s} at random, up with probability
/// equal to the fractional part. Unbiased, with E‖C[v] − v‖² ≤ min(d/s², √d/s)‖v‖₂².
/// 32 + d(1 + ⌈log₂(s+1)⌉) bits.
class qsgd_compressor final : public compressor {
public:
  /// levels in [1, qsgd_max_levels] (payload_layout.hpp).
  explicit qsgd_compressor(std::uint32_t levels);

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  void compress_into(std::span<const float> v, rng_engine& rng,
                     compressed_message& out) const override;
  /// compress_into() with Σ v_j² given: `sum_of_squares` must be the kernels' sum_of_squares
  /// of v (as add_sum_of_squares returns it where v is formed), so that v is read once only.
  void compress_into(std::span<const float> v, double sum_of_squares, rng_engine& rng,
                     compressed_message& out) const;
  bool unbiased() const override { return true; }
  std::string spec() const override { return "qsgd:s=" + std::to_string(levels_); }

  std::uint32_t levels() const noexcept { return levels_; }

private:
  std::uint32_t levels_;
};

} // namespace dsq
