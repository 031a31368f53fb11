// The v3 sign kernels (AVX2), compiled for that level function by function through target
// attributes like kernels_v3.cpp, so that the file builds in the v2 baseline and nothing of it
// runs unless the dispatcher chose v3. Each reproduces the v2 reference bit for bit.

#include "compression/detail/sign_kernels.hpp"
#include "compression/detail/sign_kernels_common.hpp"

#include <algorithm>
#include <immintrin.h>

#define DSQ_V3 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))

namespace dsq::detail {

namespace {

// The reference sums the magnitudes of 64 floats in two 4-lane accumulators, sum_a taking the
// groups of 4 at 0, 8, 16, ... and sum_b those at 4, 12, 20, ...: one 8-lane accumulator fed 8
// consecutive floats at a time holds sum_a in its low half and sum_b in its high half, in the
// same order of additions; the halves are then added as the reference adds sum_a and sum_b.
struct avx2_pack {
  DSQ_V3 static float lane_sum(__m256 sum) noexcept {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1)));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  }

  // Loads floats at..at+7 of the 64: x's own, or (Fused) x's plus g's, stored back into x.
  template <bool Fused, class Float>
  DSQ_V3 static __m256 eight(Float* x, const float* g, int at) noexcept {
    if constexpr (Fused) {
      const __m256 v = _mm256_add_ps(_mm256_loadu_ps(x + at), _mm256_loadu_ps(g + at));
      _mm256_storeu_ps(x + at, v);
      return v;
    } else {
      return _mm256_loadu_ps(x + at);
    }
  }

  template <bool Fused, class Float>
  DSQ_V3 static std::uint64_t pack(Float* x, const float* g, float& magnitude_sum) noexcept {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 magnitude_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 sum = zero;
    std::uint64_t word = 0;
    for (int i = 0; i < 8; ++i) {
      const __m256 a = eight<Fused>(x, g, 8 * i);
      word |= static_cast<std::uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(a, zero, _CMP_LT_OS)))
              << (8 * i);
      sum = _mm256_add_ps(sum, _mm256_and_ps(a, magnitude_mask));
    }
    magnitude_sum = lane_sum(sum);
    return word;
  }
};

DSQ_V3 void encode(const float* v, std::size_t n, std::size_t block, std::uint64_t* bits,
                   double* block_sums) {
  sign_encode_loop<avx2_pack, false>(v, nullptr, n, block, bits, block_sums);
}

DSQ_V3 void add_encode(float* acc, const float* g, std::size_t n, std::size_t block,
                       std::uint64_t* bits, double* block_sums) {
  sign_encode_loop<avx2_pack, true>(acc, g, n, block, bits, block_sums);
}

// Eight coordinates at a time: their byte of sign bits, broadcast to every lane and shifted so
// that lane i's bit lands on the float's sign bit, flips the magnitude's sign.
DSQ_V3 void decode(const std::uint64_t* bits, std::size_t begin, std::size_t end, float magnitude,
                   float* out, write_mode mode) {
  const sign_write how = sign_write_of(mode);
  const std::uint32_t magnitude_bits = std::bit_cast<std::uint32_t>(magnitude);
  std::size_t j = begin;
  for (const std::size_t head = std::min(end, (begin + 7) / 8 * 8); j < head; ++j)
    write_signed(out[j], signed_magnitude(bits, j, magnitude_bits), how);
  const __m256 magnitudes = _mm256_set1_ps(magnitude);
  const __m256i to_sign_bit = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
  const __m256i sign_bit = _mm256_set1_epi32(int(0x80000000u));
  const __m256 zero = _mm256_setzero_ps();
  // The word of sign bits is read once per 64 coordinates and shifted along.
  while (j + 8 <= end) {
    std::uint64_t word = bits[j / 64] >> (j % 64);
    const std::size_t stop = std::min(end, (j / 64 + 1) * 64);
    for (; j + 8 <= stop; j += 8, word >>= 8) {
      const __m256i signs = _mm256_and_si256(
          _mm256_sllv_epi32(_mm256_set1_epi32(static_cast<int>(word & 0xffu)), to_sign_bit),
          sign_bit);
      const __m256 x = _mm256_xor_ps(magnitudes, _mm256_castsi256_ps(signs));
      float* target = out + j;
      if (how == sign_write::assign)
        _mm256_storeu_ps(target, x);
      else if (how == sign_write::add)
        _mm256_storeu_ps(target, _mm256_add_ps(_mm256_loadu_ps(target), x));
      else
        _mm256_storeu_ps(target, _mm256_add_ps(zero, x));
    }
  }
  for (; j < end; ++j)
    write_signed(out[j], signed_magnitude(bits, j, magnitude_bits), how);
}

} // namespace

const sign_kernel_table sign_kernels_v3 = {encode, add_encode, decode};

} // namespace dsq::detail
