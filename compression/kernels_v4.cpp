// The v4 kernels (AVX-512 F/BW/DQ/VL on top of v3), compiled for that level function by
// function through target attributes, like kernels_v3.cpp. Only the half conversions are wider
// here; the v4 table takes the rest from v3 (detail/kernels.hpp says why).

#include "compression/detail/kernels.hpp"
#include "compression/half.hpp"

#include <immintrin.h>

#define DSQ_V4                                                                                     \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,"     \
                        "avx512vl,avx512cd")))

namespace dsq::detail {

namespace {

// float -> half for 16 lanes as float_to_half does; the mending is kernels_v3.cpp's
// float_to_half_8 (saturation to 65504, every NaN the quiet NaN of its sign).
DSQ_V4 inline __m256i float_to_half_16(__m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i sign = _mm512_and_si512(bits, _mm512_set1_epi32(int(0x80000000u)));
  __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7f800000));
  const __mmask16 too_large =
      _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x477fefff)) &
      _mm512_cmple_epi32_mask(magnitude, _mm512_set1_epi32(0x7f7fffff)); // finite only
  magnitude = _mm512_mask_mov_epi32(magnitude, too_large, _mm512_set1_epi32(0x477fe000));
  magnitude = _mm512_mask_mov_epi32(magnitude, is_nan, _mm512_set1_epi32(0x7fc00000));
  return _mm512_cvtps_ph(_mm512_castsi512_ps(_mm512_or_si512(magnitude, sign)),
                         _MM_FROUND_TO_NEAREST_INT);
}

// half -> float for 16 lanes as half_to_float does (a signalling NaN keeps its bits).
DSQ_V4 inline __m512 half_to_float_16(__m256i h) {
  const __m512 converted = _mm512_cvtph_ps(h);
  const __m512i wide = _mm512_cvtepu16_epi32(h);
  const __m512i magnitude = _mm512_and_si512(wide, _mm512_set1_epi32(0x7fff));
  const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7c00));
  const __m512i kept = _mm512_or_si512(
      _mm512_or_si512(_mm512_slli_epi32(magnitude, 13), _mm512_set1_epi32(0x70000000)),
      _mm512_slli_epi32(_mm512_and_si512(wide, _mm512_set1_epi32(0x8000)), 16));
  return _mm512_mask_mov_ps(converted, is_nan, _mm512_castsi512_ps(kept));
}

DSQ_V4 void fp16_encode(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t j = 0;
  for (; j + 16 <= n; j += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j),
                        float_to_half_16(_mm512_loadu_ps(in + j)));
  for (; j < n; ++j)
    out[j] = float_to_half(in[j]);
}

DSQ_V4 void fp16_decode(const std::uint16_t* in, float* out, std::size_t n, write_mode mode) {
  std::size_t j = 0;
  if (mode.accumulate) {
    // out += scale * x as two roundings, as the reference (no fused multiply-add).
    const __m512 scale = _mm512_set1_ps(mode.scale);
    for (; j + 16 <= n; j += 16) {
      const __m512 x =
          half_to_float_16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + j)));
      _mm512_storeu_ps(out + j, _mm512_add_ps(_mm512_loadu_ps(out + j), _mm512_mul_ps(scale, x)));
    }
    for (; j < n; ++j)
      out[j] += mode.scale * half_to_float(in[j]);
  } else {
    for (; j + 16 <= n; j += 16)
      _mm512_storeu_ps(
          out + j, half_to_float_16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + j))));
    for (; j < n; ++j)
      out[j] = half_to_float(in[j]);
  }
}

} // namespace

const kernel_table kernels_v4 = {fp16_encode,     fp16_decode,     v3::sum_of_squares,
                                 v3::qsgd_encode, v3::qsgd_decode, v3::qsgd_max_level};

} // namespace dsq::detail
