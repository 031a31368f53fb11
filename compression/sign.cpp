#include "compression/sign.hpp"

#include "compression/detail/write_mode.hpp"

#include <bit>
#include <cmath>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dsq {

namespace {

// Sign bits of 64 consecutive floats (bit i set when x[i] < 0, so that 0 and -0 count as +1)
// and the sum of their magnitudes. This loop is the whole cost of sign compression, so on x86
// it compares four floats at a time and gathers their four sign bits with one movemask.
std::uint64_t pack_signs_64(const float* x, float& magnitude_sum) noexcept {
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps();
  const __m128 magnitude_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  // Two accumulators halve the dependency chain of the additions.
  __m128 sum_a = zero;
  __m128 sum_b = zero;
  std::uint64_t word = 0;
  for (int i = 0; i < 16; i += 2) {
    const __m128 a = _mm_loadu_ps(x + 4 * i);
    const __m128 b = _mm_loadu_ps(x + 4 * i + 4);
    word |= static_cast<std::uint64_t>(_mm_movemask_ps(_mm_cmplt_ps(a, zero))) << (4 * i);
    word |= static_cast<std::uint64_t>(_mm_movemask_ps(_mm_cmplt_ps(b, zero))) << (4 * i + 4);
    sum_a = _mm_add_ps(sum_a, _mm_and_ps(a, magnitude_mask));
    sum_b = _mm_add_ps(sum_b, _mm_and_ps(b, magnitude_mask));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, _mm_add_ps(sum_a, sum_b));
  magnitude_sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  return word;
#else
  std::uint64_t word = 0;
  float sum = 0.0f;
  for (int i = 0; i < 64; ++i) {
    word |= static_cast<std::uint64_t>(x[i] < 0.0f) << i;
    sum += std::fabs(x[i]);
  }
  magnitude_sum = sum;
  return word;
#endif
}

} // namespace

std::string sign_compressor::spec() const {
  return block_ == 0 ? "sign" : "sign:block=" + std::to_string(block_);
}

compressed_message sign_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  compress_into(v, rng, m);
  return m;
}

void sign_compressor::compress_into(std::span<const float> v, rng_engine&,
                                    compressed_message& m) const {
  const auto dim = detail::checked_dimension(v.size());
  clear_keeping_capacity(m);
  m.op = operator_id::sign;
  m.dim = dim;
  m.block = block_;
  const std::size_t d = v.size();
  const std::size_t block = block_ == 0 ? d : block_;
  const std::size_t blocks = d == 0 ? 0 : (d + block - 1) / block;
  m.bits.assign((d + 63) / 64, 0);

  // Magnitudes are summed in float over 64 coordinates, then in double per block: float alone
  // would lose the small terms of a 10^7-coordinate sum.
  std::vector<double> block_sums(blocks, 0.0);
  const std::size_t full_words = d / 64;
  for (std::size_t w = 0; w < full_words; ++w) {
    const float* x = v.data() + 64 * w;
    float chunk_sum;
    m.bits[w] = pack_signs_64(x, chunk_sum);
    const std::size_t first_block = 64 * w / block;
    if (first_block == (64 * w + 63) / block) {
      block_sums[first_block] += chunk_sum;
    } else { // the chunk straddles a block boundary (rare unless blocks are small)
      for (std::size_t i = 0; i < 64; ++i)
        block_sums[(64 * w + i) / block] += std::fabs(x[i]);
    }
  }
  for (std::size_t j = 64 * full_words; j < d; ++j) {
    m.bits[j / 64] |= static_cast<std::uint64_t>(v[j] < 0.0f) << (j % 64);
    block_sums[j / block] += std::fabs(v[j]);
  }

  m.values.resize(blocks);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t length = std::min(block, d - b * block);
    m.values[b] = static_cast<float>(block_sums[b] / static_cast<double>(length));
  }
}

void detail::decode_sign(const compressed_message& m, std::span<float> out, write_mode mode) {
  const std::size_t d = out.size();
  const std::size_t block = m.block == 0 ? d : m.block;
  for (std::size_t start = 0, b = 0; start < d; start += block, ++b) {
    // Every coordinate of a block is ±magnitude; for add_scaled the scale is folded in first,
    // which is exact because flipping a float's sign bit commutes with the multiplication.
    const float magnitude = mode.accumulate ? mode.scale * m.values[b] : m.values[b];
    const std::uint32_t magnitude_bits = std::bit_cast<std::uint32_t>(magnitude);
    const std::size_t end = std::min(d, start + block);
    auto value = [&](std::size_t j) {
      const auto negative = static_cast<std::uint32_t>(m.bits[j / 64] >> (j % 64)) & 1u;
      return std::bit_cast<float>(magnitude_bits ^ (negative << 31));
    };
    std::size_t j = start;
    auto scalar_until = [&](std::size_t stop) {
      for (; j < stop; ++j)
        out[j] = mode.accumulate ? out[j] + value(j) : value(j);
    };
#if defined(__SSE2__)
    // Four coordinates at a time: their four sign bits pick a ready-made mask of float sign bits.
    alignas(16) static constexpr std::uint32_t sign_masks[16][4] = {
        {0, 0, 0, 0},
        {1u << 31, 0, 0, 0},
        {0, 1u << 31, 0, 0},
        {1u << 31, 1u << 31, 0, 0},
        {0, 0, 1u << 31, 0},
        {1u << 31, 0, 1u << 31, 0},
        {0, 1u << 31, 1u << 31, 0},
        {1u << 31, 1u << 31, 1u << 31, 0},
        {0, 0, 0, 1u << 31},
        {1u << 31, 0, 0, 1u << 31},
        {0, 1u << 31, 0, 1u << 31},
        {1u << 31, 1u << 31, 0, 1u << 31},
        {0, 0, 1u << 31, 1u << 31},
        {1u << 31, 0, 1u << 31, 1u << 31},
        {0, 1u << 31, 1u << 31, 1u << 31},
        {1u << 31, 1u << 31, 1u << 31, 1u << 31}};
    scalar_until(std::min(end, (start + 3) / 4 * 4)); // bit groups of 4 start at multiples of 4
    const __m128 magnitudes = _mm_set1_ps(magnitude);
    for (; j + 4 <= end; j += 4) {
      const auto nibble = static_cast<unsigned>(m.bits[j / 64] >> (j % 64)) & 15u;
      const __m128 signed_values =
          _mm_xor_ps(magnitudes, _mm_load_ps(reinterpret_cast<const float*>(sign_masks[nibble])));
      float* target = out.data() + j;
      _mm_storeu_ps(target, mode.accumulate ? _mm_add_ps(_mm_loadu_ps(target), signed_values)
                                            : signed_values);
    }
#endif
    scalar_until(end);
  }
}

} // namespace dsq
