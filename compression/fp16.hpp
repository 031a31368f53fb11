#pragma once

#include "compression/compressor.hpp"

namespace dsq {

/// C[v] = v rounded to IEEE binary16 (see half.hpp for rounding and saturation), 16 bits per
/// coordinate. Deterministic and biased, but only by rounding.
class fp16_compressor final : public compressor {
public:
  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  void compress_into(std::span<const float> v, rng_engine& rng,
                     compressed_message& out) const override;
  bool unbiased() const override { return false; }
  std::string spec() const override { return "fp16"; }
};

} // namespace dsq
