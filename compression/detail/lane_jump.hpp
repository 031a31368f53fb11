#pragma once

// Jumping QSGD's xoshiro128+ lanes ahead by K steps without taking them, so that an encoder can
// run the lanes from two points of the vector at once: one lane's steps form a chain of
// dependent instructions (4 cycles a step at v4), and two independent chains keep the SIMD
// units busy where one leaves them waiting.
//
// The generator's state transition M (xors, a shift and a rotation of the 128-bit state) is
// linear over GF(2), and its characteristic polynomial p has degree 128. Then M^K = r(M) with
// r = x^K mod p, and the state after K steps is the sum (xor) of M^i s over the coefficients
// r_i = 1: 128 steps whatever K (lane_jump_polynomial here, the steps in the kernel).

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace dsq::detail {

/// A polynomial over GF(2) of degree below 128: bit i of the 128 is the coefficient of x^i.
struct gf2_poly128 {
  std::uint64_t low = 0;  ///< x^0 to x^63
  std::uint64_t high = 0; ///< x^64 to x^127

  /// The coefficient of x^i, i < 128.
  constexpr bool coefficient(unsigned i) const noexcept {
    return ((i < 64 ? low >> i : high >> (i - 64)) & 1) != 0;
  }
  friend bool operator==(const gf2_poly128&, const gf2_poly128&) = default;
};

/// One step of one xoshiro128+ lane's state (qsgd_lanes::next without its number).
constexpr void xoshiro128_step(std::uint32_t* s) noexcept {
  const std::uint32_t t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = std::rotl(s[3], 11);
}

/// The characteristic polynomial of xoshiro128's transition without its x^128 term, found by
/// Berlekamp-Massey from 256 bits of one state bit's sequence (its minimal polynomial, which
/// is the characteristic one since the generator's period is 2^128 - 1).
constexpr gf2_poly128 xoshiro128_characteristic() noexcept {
  constexpr std::size_t length = 256;
  std::array<std::uint8_t, length> bits{};
  std::uint32_t s[4] = {1, 2, 3, 4};
  for (auto& bit : bits) {
    bit = s[0] & 1;
    xoshiro128_step(s);
  }
  // The connection polynomial c (c_0 = 1) of the shortest linear recurrence of `bits`.
  std::array<std::uint8_t, length + 1> c{}, b{};
  c[0] = b[0] = 1;
  std::size_t degree = 0, shift = 1;
  for (std::size_t n = 0; n < length; ++n) {
    std::uint8_t discrepancy = bits[n];
    for (std::size_t i = 1; i <= degree; ++i)
      discrepancy ^= c[i] & bits[n - i];
    if (discrepancy == 0) {
      ++shift;
      continue;
    }
    const auto previous = c;
    for (std::size_t i = 0; i + shift <= length; ++i)
      c[i + shift] ^= b[i];
    if (2 * degree <= n) {
      degree = n + 1 - degree;
      b = previous;
      shift = 1;
    } else {
      ++shift;
    }
  }
  // p(x) = x^128 + sum c_i x^(128 - i); degree is 128 here (test_kernels checks the jump).
  gf2_poly128 p;
  for (std::size_t i = 1; i <= degree && i <= 128; ++i)
    if (c[i] != 0) {
      const std::size_t power = 128 - i;
      (power < 64 ? p.low : p.high) |= std::uint64_t{1} << (power % 64);
    }
  return p;
}

inline constexpr gf2_poly128 xoshiro128_polynomial = xoshiro128_characteristic();

/// a · x mod p.
constexpr gf2_poly128 times_x(gf2_poly128 a) noexcept {
  const bool carry = (a.high >> 63) != 0;
  a.high = (a.high << 1) | (a.low >> 63);
  a.low <<= 1;
  if (carry) {
    a.low ^= xoshiro128_polynomial.low;
    a.high ^= xoshiro128_polynomial.high;
  }
  return a;
}

/// a · b mod p (Horner over b's coefficients).
constexpr gf2_poly128 multiply(gf2_poly128 a, gf2_poly128 b) noexcept {
  gf2_poly128 product;
  for (unsigned i = 128; i-- > 0;) {
    product = times_x(product);
    if (b.coefficient(i)) {
      product.low ^= a.low;
      product.high ^= a.high;
    }
  }
  return product;
}

/// x^(2^m) mod p for m < 40.
inline constexpr auto x_to_powers_of_two = [] {
  std::array<gf2_poly128, 40> powers{};
  powers[0] = {2, 0}; // x
  for (std::size_t m = 1; m < powers.size(); ++m)
    powers[m] = multiply(powers[m - 1], powers[m - 1]);
  return powers;
}();

/// x^K mod p, K < 2^40: the jump by K steps (a product per set bit of K; the encoders keep
/// K's top few bits only).
constexpr gf2_poly128 lane_jump_polynomial(std::uint64_t steps) noexcept {
  gf2_poly128 r{1, 0};
  for (unsigned m = 0; steps != 0; ++m, steps >>= 1)
    if (steps & 1)
      r = multiply(r, x_to_powers_of_two[m]);
  return r;
}

/// One lane's state after `steps` steps, by the jump (what the kernels do for 16 lanes at once;
/// the tests compare it with the steps taken one by one).
constexpr void jump_lane(std::uint32_t* s, std::uint64_t steps) noexcept {
  const gf2_poly128 r = lane_jump_polynomial(steps);
  std::uint32_t sum[4] = {};
  for (unsigned i = 0; i < 128; ++i) {
    if (r.coefficient(i))
      for (int w = 0; w < 4; ++w)
        sum[w] ^= s[w];
    xoshiro128_step(s);
  }
  for (int w = 0; w < 4; ++w)
    s[w] = sum[w];
}

} // namespace dsq::detail
