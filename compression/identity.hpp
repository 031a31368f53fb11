#pragma once

#include "compression/compressor.hpp"

namespace dsq {

/// C[v] = v, 32 bits per coordinate: turns DoubleSqueeze into plain minibatch SGD.
class identity_compressor final : public compressor {
public:
  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  void compress_into(std::span<const float> v, rng_engine& rng,
                     compressed_message& out) const override;
  bool unbiased() const override { return true; }
  std::string spec() const override { return "identity"; }
};

} // namespace dsq
