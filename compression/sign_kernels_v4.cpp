// The v4 sign kernels (AVX-512 F/BW/DQ/VL on top of v3), compiled for that level function by
// function through target attributes like kernels_v4.cpp. Each reproduces the v2 reference
// bit for bit.

#include "compression/detail/sign_kernels.hpp"
#include "compression/detail/sign_kernels_common.hpp"

#include <algorithm>
#include <immintrin.h>

#define DSQ_V4                                                                                     \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,"     \
                        "avx512vl,avx512cd")))

namespace dsq::detail {

namespace {

// Signs 16 at a time, straight into a mask register. The magnitudes are summed 8 lanes wide
// as in the v3 kernel: a 16-lane accumulator would add the reference's groups of 4 in another
// order (sum_a's lane l would be split between lanes l and 8 + l), so each 16 floats are added
// as their low then their high 8.
struct avx512_pack {
  DSQ_V4 static float lane_sum(__m256 sum) noexcept {
    alignas(16) float lanes[4];
    _mm_store_ps(lanes, _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1)));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  }

  DSQ_V4 static void add_sixteen(__m256& sum, __m512 a) noexcept {
    const __m512 magnitudes = _mm512_abs_ps(a);
    sum = _mm256_add_ps(sum, _mm512_castps512_ps256(magnitudes));
    sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(magnitudes, 1));
  }

  // Loads floats at..at+15 of the 64: x's own, or (Fused) x's plus g's, stored back into x.
  template <bool Fused, class Float>
  DSQ_V4 static __m512 sixteen(Float* x, const float* g, int at) noexcept {
    if constexpr (Fused) {
      const __m512 v = _mm512_add_ps(_mm512_loadu_ps(x + at), _mm512_loadu_ps(g + at));
      _mm512_storeu_ps(x + at, v);
      return v;
    } else {
      return _mm512_loadu_ps(x + at);
    }
  }

  template <bool Fused, class Float>
  DSQ_V4 static std::uint64_t pack(Float* x, const float* g, float& magnitude_sum) noexcept {
    const __m512 zero = _mm512_setzero_ps();
    __m256 sum = _mm256_setzero_ps();
    std::uint64_t word = 0;
    for (int i = 0; i < 4; ++i) {
      const __m512 a = sixteen<Fused>(x, g, 16 * i);
      word |= static_cast<std::uint64_t>(_mm512_cmp_ps_mask(a, zero, _CMP_LT_OS)) << (16 * i);
      add_sixteen(sum, a);
    }
    magnitude_sum = lane_sum(sum);
    return word;
  }
};

DSQ_V4 void encode(const float* v, std::size_t n, std::size_t block, std::uint64_t* bits,
                   double* block_sums) {
  sign_encode_loop<avx512_pack, false>(v, nullptr, n, block, bits, block_sums);
}

DSQ_V4 void add_encode(float* acc, const float* g, std::size_t n, std::size_t block,
                       std::uint64_t* bits, double* block_sums) {
  sign_encode_loop<avx512_pack, true>(acc, g, n, block, bits, block_sums);
}

// Sixteen coordinates at a time: their 16 sign bits, as a mask, flip the magnitude's sign bit
// in the lanes they select.
DSQ_V4 void decode(const std::uint64_t* bits, std::size_t begin, std::size_t end, float magnitude,
                   float* out, write_mode mode) {
  const sign_write how = sign_write_of(mode);
  const std::uint32_t magnitude_bits = std::bit_cast<std::uint32_t>(magnitude);
  std::size_t j = begin;
  for (const std::size_t head = std::min(end, (begin + 15) / 16 * 16); j < head; ++j)
    write_signed(out[j], signed_magnitude(bits, j, magnitude_bits), how);
  const __m512 magnitudes = _mm512_set1_ps(magnitude);
  const __m512 sign_bit = _mm512_set1_ps(-0.0f);
  const __m512 zero = _mm512_setzero_ps();
  // The word of sign bits is read once per 64 coordinates and shifted along.
  while (j + 16 <= end) {
    std::uint64_t word = bits[j / 64] >> (j % 64);
    const std::size_t stop = std::min(end, (j / 64 + 1) * 64);
    for (; j + 16 <= stop; j += 16, word >>= 16) {
      const __m512 x =
          _mm512_mask_xor_ps(magnitudes, static_cast<__mmask16>(word), magnitudes, sign_bit);
      float* target = out + j;
      if (how == sign_write::assign)
        _mm512_storeu_ps(target, x);
      else if (how == sign_write::add)
        _mm512_storeu_ps(target, _mm512_add_ps(_mm512_loadu_ps(target), x));
      else
        _mm512_storeu_ps(target, _mm512_add_ps(zero, x));
    }
  }
  for (; j < end; ++j)
    write_signed(out[j], signed_magnitude(bits, j, magnitude_bits), how);
}

} // namespace

const sign_kernel_table sign_kernels_v4 = {encode, add_encode, decode};

} // namespace dsq::detail
