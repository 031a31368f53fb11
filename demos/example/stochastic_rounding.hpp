#pragma once

// A compression operator dsq does not have: 8-bit stochastic rounding. A vector v becomes its
// scale s = max |v_i| (a float) and one signed byte per coordinate, v_i / s * L rounded down or
// up at random with the probabilities that make the rounding unbiased: E[C[v]] = v.

#include <dsq/operator.hpp>
#include <dsq/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>

namespace example {

/// sr8:levels=L (1 <= L <= 127, default 127): 4 + d bytes for d coordinates, a quarter of a
/// float vector. Holds only its configuration, so one instance serves every thread.
class stochastic_rounding final : public dsq::custom_operator {
public:
  explicit stochastic_rounding(int levels) : levels_(static_cast<float>(levels)) {}

  std::size_t payload_bytes(std::uint32_t dimension) const override {
    return sizeof(float) + dimension;
  }

  void encode(std::span<const float> v, dsq::rng_engine& rng,
              std::span<std::uint8_t> payload) const override {
    float scale = 0;
    for (float x : v)
      scale = std::max(scale, std::abs(x));
    std::memcpy(payload.data(), &scale, sizeof scale);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const float q = scale > 0 ? v[i] / scale * levels_ : 0.0f; // in [-L, L]
      const float low = std::floor(q);
      const float up = static_cast<float>(rng() >> 40) * 0x1p-24f < q - low ? 1.0f : 0.0f;
      const auto level = static_cast<std::int8_t>(low + up);
      std::memcpy(&payload[sizeof scale + i], &level, 1);
    }
  }

  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    // The bytes come from the network: a scale that is not a finite, non-negative float is
    // refused; every level byte decodes to something.
    float scale = 0;
    std::memcpy(&scale, payload.data(), sizeof scale);
    if (!std::isfinite(scale) || scale < 0)
      throw std::invalid_argument("sr8: the scale is not a finite non-negative number");
    for (std::size_t i = 0; i < out.size(); ++i) {
      std::int8_t level = 0;
      std::memcpy(&level, &payload[sizeof scale + i], 1);
      out[i] = static_cast<float>(level) * scale / levels_;
    }
  }

  bool unbiased() const override { return true; }

private:
  float levels_;
};

} // namespace example
