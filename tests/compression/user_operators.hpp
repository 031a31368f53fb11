#pragma once

// Operators as a program would bring them (include/dsq/operator.hpp): none is a built-in, each
// has a parameter, one is biased and one unbiased. Shared by the tests and the decoder fuzzer.
//
//   scaled_sign:gain=G  C[v]_j = G (‖v‖₁ / d) sign(v_j)          biased
//                       payload: f32 scale, then ceil(d/8) bytes of sign bits (1 = negative,
//                       LSB first); nonzero bits past d are refused (std::invalid_argument)
//   round8:levels=L     v rounded at random to one of L + 1 evenly spaced values between
//                       min v and max v, up or down in proportion to the distance: unbiased
//                       payload: f32 low, f32 step, then d bytes of level (decoded as they come)
//   plain               C[v] = v; payload: the d floats (tests/support/user_operator_parts.hpp)

#include "tests/support/user_operator_parts.hpp"

#include <dsq/operator.hpp>
#include <dsq/spec_error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace dsq::test {

inline float read_float(const std::uint8_t* bytes) {
  float x;
  std::memcpy(&x, bytes, sizeof x);
  return x;
}

inline void write_float(float x, std::uint8_t* bytes) {
  std::memcpy(bytes, &x, sizeof x);
}

/// A uniform draw in [0, 1) from the top 24 bits of the engine: one engine call per coordinate.
inline float uniform01(rng_engine& rng) {
  return static_cast<float>(rng() >> 40) * 0x1p-24f;
}

class scaled_sign final : public custom_operator {
public:
  explicit scaled_sign(float gain) : gain_(gain) {}

  std::size_t payload_bytes(std::uint32_t d) const override { return 4 + (d + 7) / 8; }

  void encode(std::span<const float> v, rng_engine&,
              std::span<std::uint8_t> payload) const override {
    write_float(sign_scale(v, gain_), payload.data());
    std::fill(payload.begin() + 4, payload.end(), std::uint8_t{0});
    for (std::size_t j = 0; j < v.size(); ++j)
      if (v[j] < 0)
        payload[4 + j / 8] |= static_cast<std::uint8_t>(1u << (j % 8));
  }

  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    const float scale = read_float(payload.data());
    const std::size_t d = out.size();
    if (d % 8 != 0 && (payload[4 + d / 8] >> (d % 8)) != 0)
      throw std::invalid_argument("scaled_sign: nonzero bits after the last coordinate");
    for (std::size_t j = 0; j < d; ++j)
      out[j] = (payload[4 + j / 8] >> (j % 8)) & 1u ? -scale : scale;
  }

  bool unbiased() const override { return false; }

private:
  float gain_;
};

class round8 final : public custom_operator {
public:
  explicit round8(unsigned levels) : levels_(levels) {}

  std::size_t payload_bytes(std::uint32_t d) const override { return 8 + std::size_t{d}; }

  void encode(std::span<const float> v, rng_engine& rng,
              std::span<std::uint8_t> payload) const override {
    float low = 0, high = 0;
    if (!v.empty()) {
      const auto [min, max] = std::minmax_element(v.begin(), v.end());
      low = *min;
      high = *max;
    }
    const float step = (high - low) / static_cast<float>(levels_);
    write_float(low, payload.data());
    write_float(step, payload.data() + 4);
    for (std::size_t j = 0; j < v.size(); ++j) {
      const float x = step > 0 ? (v[j] - low) / step : 0.0f;
      float level = std::floor(x);
      if (uniform01(rng) < x - level)
        level += 1;
      payload[8 + j] = static_cast<std::uint8_t>(std::clamp(level, 0.0f, float(levels_)));
    }
  }

  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    const float low = read_float(payload.data());
    const float step = read_float(payload.data() + 4);
    for (std::size_t j = 0; j < out.size(); ++j)
      out[j] = low + static_cast<float>(payload[8 + j]) * step;
  }

  bool unbiased() const override { return true; }

private:
  unsigned levels_;
};

/// Registers scaled_sign, round8 and plain, once per process.
inline void register_test_operators() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_operator("scaled_sign", [](const spec_args& args) {
      return std::make_unique<scaled_sign>(positive_gain(args));
    });
    register_operator("round8", [](const spec_args& args) {
      const auto levels = args.count("levels", 255);
      if (levels < 1 || levels > 255)
        throw spec_error(args.error("levels must be in [1, 255]"));
      return std::make_unique<round8>(static_cast<unsigned>(levels));
    });
    register_operator("plain", [](const spec_args&) { return std::make_unique<plain>(); });
  });
}

} // namespace dsq::test
