#pragma once

#include <bit>
#include <cstdint>

namespace dsq {

/// Largest finite binary16 value, 65504, as a bit pattern.
inline constexpr std::uint16_t half_max_bits = 0x7bff;

/// float -> IEEE 754 binary16, rounding to nearest, ties to even, subnormals included.
///
/// Finite values too large for a half saturate to ±65504 instead of becoming ±inf: under error
/// feedback the residual v - C[v] then stays finite and the excess is sent later, whereas an
/// infinite C[v] would poison the residual and the model for good. ±inf stays ±inf, and NaN
/// becomes a quiet NaN of the same sign.
constexpr std::uint16_t float_to_half(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;

  if (magnitude >= 0x7f800000u) // inf or NaN
    return sign | (magnitude == 0x7f800000u ? 0x7c00u : 0x7e00u);
  if (magnitude >= 0x477ff000u) // 65520 and up round past 65504
    return sign | half_max_bits;
  if (magnitude >= 0x38800000u) { // at least 2^-14: a normal half
    // Rebias the exponent from 127 to 15, then drop 13 mantissa bits with ties to even; a carry
    // out of the mantissa correctly bumps the exponent.
    const std::uint32_t rebased = magnitude - (112u << 23);
    const std::uint32_t rounded = rebased + 0x0fffu + ((rebased >> 13) & 1u);
    return sign | static_cast<std::uint16_t>(rounded >> 13);
  }
  if (magnitude <= 0x33000000u) // at most 2^-25, half of the smallest subnormal: rounds to 0
    return sign;
  // Subnormal half: the value in units of 2^-24, rounded to nearest even. The result may round
  // up to 0x0400, which is the smallest normal half, as it should.
  const std::uint32_t mantissa = (magnitude & 0x007fffffu) | 0x00800000u;
  const std::uint32_t shift = 126u - (magnitude >> 23); // 14..24 here
  const std::uint32_t truncated = mantissa >> shift;
  const std::uint32_t remainder = mantissa & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  const bool round_up = remainder > halfway || (remainder == halfway && (truncated & 1u));
  return sign | static_cast<std::uint16_t>(truncated + (round_up ? 1u : 0u));
}

/// IEEE 754 binary16 -> float; exact, since every half is a float.
constexpr float half_to_float(std::uint16_t half) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  const std::uint32_t mantissa = half & 0x03ffu;
  if (exponent == 0x1fu)
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return sign ? -magnitude : magnitude;
}

} // namespace dsq
