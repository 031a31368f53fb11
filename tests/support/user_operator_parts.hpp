#pragma once

// Pieces of the operators that the tests write as a program would (include/dsq/operator.hpp),
// shared by tests/compression/user_operators.hpp and tests/training/test_user_operator_run.cpp:
// the identity through an opaque payload, the scale of a sign operator, and the `gain`
// parameter of a spec.

#include <dsq/operator.hpp>
#include <dsq/spec_error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>

namespace dsq::test {

/// C[v] = v; payload: the d floats. None of the built-ins' code.
class plain final : public custom_operator {
public:
  std::size_t payload_bytes(std::uint32_t d) const override { return 4 * std::size_t{d}; }
  void encode(std::span<const float> v, rng_engine&,
              std::span<std::uint8_t> payload) const override {
    if (!v.empty()) // memcpy wants valid pointers even for 0 bytes, and empty spans have none
      std::memcpy(payload.data(), v.data(), v.size_bytes());
  }
  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    if (!out.empty())
      std::memcpy(out.data(), payload.data(), out.size_bytes());
  }
  bool unbiased() const override { return true; }
};

/// gain (‖v‖₁ / d), the magnitude of every coordinate of a scaled sign; 0 for an empty v.
inline float sign_scale(std::span<const float> v, float gain) {
  double l1 = 0;
  for (const float x : v)
    l1 += std::fabs(x);
  return v.empty() ? 0.0f : gain * static_cast<float>(l1 / v.size());
}

/// The spec's `gain` (default 1); throws spec_error unless it is positive.
inline float positive_gain(const spec_args& args) {
  const double gain = args.number("gain", 1.0);
  if (!(gain > 0))
    throw spec_error(args.error("gain must be positive"));
  return static_cast<float>(gain);
}

} // namespace dsq::test
