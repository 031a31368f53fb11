// The v2 sign kernels: the reference that every other level must reproduce bit for bit, and
// what runs on a machine without AVX2. These are sign.cpp's SSE2 loops as they were before there
// were levels (the decoder now keeps each word of sign bits in a register): their results
// define the wire format and the decoded values.

#include "compression/detail/sign_kernels.hpp"
#include "compression/detail/sign_kernels_common.hpp"

#include <algorithm>
#include <emmintrin.h>

namespace dsq::detail {

namespace {

// Sign bits of 64 consecutive floats and the sum of their magnitudes: four floats at a time,
// their four sign bits gathered with one movemask. Two accumulators (alternate groups of four)
// halve the dependency chain of the additions; this order of summation is the reference's.
struct sse2_pack {
  static float lane_sum(__m128 sum_a, __m128 sum_b) noexcept {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_add_ps(sum_a, sum_b));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  }

  // Loads floats at..at+3 of the 64: x's own, or (Fused) x's plus g's, stored back into x.
  template <bool Fused, class Float>
  static __m128 four(Float* x, const float* g, int at) noexcept {
    if constexpr (Fused) {
      const __m128 v = _mm_add_ps(_mm_loadu_ps(x + at), _mm_loadu_ps(g + at));
      _mm_storeu_ps(x + at, v);
      return v;
    } else {
      return _mm_loadu_ps(x + at);
    }
  }

  template <bool Fused, class Float>
  static std::uint64_t pack(Float* x, const float* g, float& magnitude_sum) noexcept {
    const __m128 zero = _mm_setzero_ps();
    const __m128 magnitude_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    __m128 sum_a = zero;
    __m128 sum_b = zero;
    std::uint64_t word = 0;
    for (int i = 0; i < 16; i += 2) {
      const __m128 a = four<Fused>(x, g, 4 * i);
      const __m128 b = four<Fused>(x, g, 4 * i + 4);
      word |= static_cast<std::uint64_t>(_mm_movemask_ps(_mm_cmplt_ps(a, zero))) << (4 * i);
      word |= static_cast<std::uint64_t>(_mm_movemask_ps(_mm_cmplt_ps(b, zero))) << (4 * i + 4);
      sum_a = _mm_add_ps(sum_a, _mm_and_ps(a, magnitude_mask));
      sum_b = _mm_add_ps(sum_b, _mm_and_ps(b, magnitude_mask));
    }
    magnitude_sum = lane_sum(sum_a, sum_b);
    return word;
  }
};

void encode(const float* v, std::size_t n, std::size_t block, std::uint64_t* bits,
            double* block_sums) {
  sign_encode_loop<sse2_pack, false>(v, nullptr, n, block, bits, block_sums);
}

void add_encode(float* acc, const float* g, std::size_t n, std::size_t block, std::uint64_t* bits,
                double* block_sums) {
  sign_encode_loop<sse2_pack, true>(acc, g, n, block, bits, block_sums);
}

void decode(const std::uint64_t* bits, std::size_t begin, std::size_t end, float magnitude,
            float* out, write_mode mode) {
  const sign_write how = sign_write_of(mode);
  const std::uint32_t magnitude_bits = std::bit_cast<std::uint32_t>(magnitude);
  std::size_t j = begin;
  auto scalar_until = [&](std::size_t stop) {
    for (; j < stop; ++j)
      write_signed(out[j], signed_magnitude(bits, j, magnitude_bits), how);
  };
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
  scalar_until(std::min(end, (begin + 3) / 4 * 4)); // bit groups of 4 start at multiples of 4
  const __m128 magnitudes = _mm_set1_ps(magnitude);
  const __m128 zero = _mm_setzero_ps();
  // The word of sign bits is read once per 64 coordinates (or once at the start of the range)
  // and shifted along, not reloaded for every group of 4.
  while (j + 4 <= end) {
    std::uint64_t word = bits[j / 64] >> (j % 64);
    const std::size_t stop = std::min(end, (j / 64 + 1) * 64);
    for (; j + 4 <= stop; j += 4, word >>= 4) {
      const __m128 x = _mm_xor_ps(
          magnitudes, _mm_load_ps(reinterpret_cast<const float*>(sign_masks[word & 15u])));
      float* target = out + j;
      if (how == sign_write::assign)
        _mm_storeu_ps(target, x);
      else if (how == sign_write::add)
        _mm_storeu_ps(target, _mm_add_ps(_mm_loadu_ps(target), x));
      else
        _mm_storeu_ps(target, _mm_add_ps(zero, x));
    }
  }
  scalar_until(end);
}

} // namespace

const sign_kernel_table sign_kernels_v2 = {encode, add_encode, decode};

} // namespace dsq::detail
