#pragma once

// The loops every level's sign kernels share around the level's own instructions: inlined
// (always) into each level's kernel, they take its target and inline its pack of 64
// coordinates, and no out-of-line copy of them exists for the linker to pick.

#include "compression/detail/write_mode.hpp"

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace dsq::detail {

/// How a sign decoder writes x_j = ±magnitude (write_mode without the scale, which the
/// magnitude already holds).
enum class sign_write { assign, add, add_to_zeros };

/// The sign_write of `mode`.
inline sign_write sign_write_of(write_mode mode) noexcept {
  if (!mode.accumulate)
    return sign_write::assign;
  return mode.onto_zeros ? sign_write::add_to_zeros : sign_write::add;
}

/// The reference's x_j for coordinate j: the magnitude's bits with bit j of the stream as sign.
inline float signed_magnitude(const std::uint64_t* bits, std::size_t j,
                              std::uint32_t magnitude_bits) noexcept {
  const auto negative = static_cast<std::uint32_t>(bits[j / 64] >> (j % 64)) & 1u;
  return std::bit_cast<float>(magnitude_bits ^ (negative << 31));
}

/// The reference's write of x into out (the loads' operand order kept: out first).
inline void write_signed(float& out, float x, sign_write how) noexcept {
  if (how == sign_write::assign)
    out = x;
  else if (how == sign_write::add)
    out = out + x;
  else
    out = 0.0f + x; // what filling with zeros then adding gives: -0 becomes +0
}

/// sign_kernel_table::encode (Fused = false: `v` is read only, `g` unused) or add_encode
/// (Fused = true: v += g first) around Pack, a type with
///   template <bool Fused, class Float> static std::uint64_t pack(Float* x, const float* g,
///                                                                float& sum)
/// giving the signs of 64 coordinates and their magnitude sum in the reference's order
/// (with Fused, after x[i] += g[i], stored).
template <class Pack, bool Fused>
[[gnu::always_inline]] inline void
sign_encode_loop(std::conditional_t<Fused, float*, const float*> v, const float* g, std::size_t n,
                 std::size_t block, std::uint64_t* bits, double* block_sums) {
  const std::size_t full_words = n / 64;
  // The block of the word's first coordinate, followed without a division per word.
  std::size_t b = 0;
  std::size_t block_end = block;
  for (std::size_t w = 0; w < full_words; ++w) {
    const std::size_t first = 64 * w;
    float chunk_sum;
    bits[w] = Pack::template pack<Fused>(v + first, Fused ? g + first : nullptr, chunk_sum);
    while (first >= block_end) {
      ++b;
      block_end += block;
    }
    if (first + 64 <= block_end) {
      block_sums[b] += chunk_sum;
    } else { // the word straddles a block boundary (rare unless blocks are small)
      for (std::size_t i = 0; i < 64; ++i)
        block_sums[(first + i) / block] += std::fabs(v[first + i]);
    }
  }
  if (64 * full_words < n) {
    std::uint64_t word = 0;
    for (std::size_t j = 64 * full_words; j < n; ++j) {
      if constexpr (Fused)
        v[j] += g[j];
      word |= static_cast<std::uint64_t>(v[j] < 0.0f) << (j % 64);
      block_sums[j / block] += std::fabs(v[j]);
    }
    bits[full_words] = word;
  }
}

} // namespace dsq::detail
