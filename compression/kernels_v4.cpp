// The v4 kernels (AVX-512 F/BW/DQ/VL on top of v3), compiled for that level function by
// function through target attributes, like kernels_v3.cpp. The half conversions, QSGD's norm
// and its encoder are wider here; the v4 table takes QSGD's decoding from v3.

#include "compression/detail/kernels.hpp"
#include "compression/detail/kernels_common.hpp"
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

// The reference's 32 partial sums are the lanes of four registers (same products, same
// additions, same order), as v3's eight, each square and its addition one exact-product fused
// multiply-add as there.
DSQ_V4 double sum_of_squares(const float* v, std::size_t n) {
  __m512d partial[4];
  for (auto& p : partial)
    p = _mm512_setzero_pd();
  std::size_t j = 0;
  for (; j + norm_lane_count <= n; j += norm_lane_count)
    for (int r = 0; r < 4; ++r) {
      const __m512d x = _mm512_cvtps_pd(_mm256_loadu_ps(v + j + 8 * r));
      partial[r] = _mm512_fmadd_pd(x, x, partial[r]);
    }
  alignas(64) double lanes[norm_lane_count];
  for (int r = 0; r < 4; ++r)
    _mm512_store_pd(lanes + 8 * r, partial[r]);
  for (std::size_t i = 0; j < n; ++j, ++i)
    lanes[i] += double(v[j]) * double(v[j]);
  return sum_of_lanes(lanes);
}

// sum_of_squares above with v = acc + g formed and stored on the way (one float addition per
// coordinate, as the reference's).
DSQ_V4 double add_sum_of_squares(float* acc, const float* g, std::size_t n) {
  __m512d partial[4];
  for (auto& p : partial)
    p = _mm512_setzero_pd();
  std::size_t j = 0;
  for (; j + norm_lane_count <= n; j += norm_lane_count)
    for (int r = 0; r < 4; ++r) {
      const __m256 v =
          _mm256_add_ps(_mm256_loadu_ps(acc + j + 8 * r), _mm256_loadu_ps(g + j + 8 * r));
      _mm256_storeu_ps(acc + j + 8 * r, v);
      const __m512d x = _mm512_cvtps_pd(v);
      partial[r] = _mm512_fmadd_pd(x, x, partial[r]);
    }
  alignas(64) double lanes[norm_lane_count];
  for (int r = 0; r < 4; ++r)
    _mm512_store_pd(lanes + 8 * r, partial[r]);
  for (std::size_t i = 0; j < n; ++j, ++i) {
    acc[j] += g[j];
    lanes[i] += double(acc[j]) * double(acc[j]);
  }
  return sum_of_lanes(lanes);
}

// One step of the 16 xoshiro128+ lanes (qsgd_lanes::next): their numbers.
DSQ_V4 inline __m512i lanes_next_16(__m512i* s) {
  const __m512i result = _mm512_add_epi32(s[0], s[3]);
  const __m512i t = _mm512_slli_epi32(s[1], 9);
  s[2] = _mm512_xor_si512(s[2], s[0]);
  s[3] = _mm512_xor_si512(s[3], s[1]);
  s[1] = _mm512_xor_si512(s[1], s[2]);
  s[0] = _mm512_xor_si512(s[0], s[3]);
  s[2] = _mm512_xor_si512(s[2], t);
  s[3] = _mm512_rol_epi32(s[3], 11);
  return result;
}

// qsgd_lane_field for 16 coordinates (kernels_v3.cpp's qsgd_lane_fields_8, with masks).
// The uniform's scaling and its addition are one fused multiply-add: draw >> 8 times 2^-24 is
// exact, so rounding once gives the reference's sum of two roundings.
DSQ_V4 inline __m512i qsgd_lane_fields_16(const float* x, __m512i draws, __m512i levels,
                                          __m512 levels_per_unit, __m512i sign_bit) {
  const __m512 value = _mm512_loadu_ps(x);
  const __m512 t =
      _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(draws, 8)), _mm512_set1_ps(0x1p-24f),
                      _mm512_mul_ps(_mm512_abs_ps(value), levels_per_unit));
  const __m512i level = _mm512_min_epu32(_mm512_cvttps_epi32(t), levels);
  const __mmask16 negative =
      _mm512_mask_test_epi32_mask(_mm512_movepi32_mask(_mm512_castps_si512(value)), level, level);
  return _mm512_mask_or_epi32(level, negative, level, sign_bit);
}

DSQ_V4 void qsgd_encode(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                        std::uint64_t* words) {
  const unsigned width = q.level_bits + 1;
  qsgd_lanes lanes{rng};
  std::size_t j = 0;
  // 16 coordinates at a time, the lanes' state in four registers; the fields narrowed to bytes
  // (up to 8 bits) or halves (up to 16), every 8 packed by PEXT into `width` whole bytes
  // (qsgd_chunked_end). Wider fields (s >= 32768) and the last coordinates take the
  // reference's path.
  if (width <= 16) {
    const std::size_t end = qsgd_chunked_end(n);
    auto* bytes = reinterpret_cast<unsigned char*>(words);
    const __m512i levels = _mm512_set1_epi32(static_cast<int>(q.levels));
    const __m512 levels_per_unit = _mm512_set1_ps(q.levels_per_unit);
    const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(1u << q.level_bits));
    const std::uint64_t byte_mask = lane_mask(width, 8);
    const std::uint64_t half_mask = lane_mask(width, 16);
    __m512i state[4];
    for (int w = 0; w < 4; ++w)
      state[w] = _mm512_load_si512(lanes.s[w]);
    if (width <= 8) {
      // `at` runs along with j (2 * width bytes per 16 coordinates) rather than being computed
      // from it: a multiply fewer in a loop of about 30 instructions.
      for (unsigned char* at = bytes; j < end; j += qsgd_lane_count, at += 2 * width) {
        const __m128i packed = _mm512_cvtepi32_epi8(
            qsgd_lane_fields_16(v + j, lanes_next_16(state), levels, levels_per_unit, sign_bit));
        store_chunk(at,
                    _pext_u64(static_cast<std::uint64_t>(_mm_cvtsi128_si64(packed)), byte_mask));
        store_chunk(at + width,
                    _pext_u64(static_cast<std::uint64_t>(_mm_extract_epi64(packed, 1)), byte_mask));
      }
    } else {
      for (unsigned char* at = bytes; j < end; j += qsgd_lane_count, at += 2 * width) {
        const __m256i halves = _mm512_cvtepi32_epi16(
            qsgd_lane_fields_16(v + j, lanes_next_16(state), levels, levels_per_unit, sign_bit));
        const __m128i first = _mm256_castsi256_si128(halves);
        const __m128i second = _mm256_extracti128_si256(halves, 1);
        store_chunk(at, _pext_u64(static_cast<std::uint64_t>(_mm_cvtsi128_si64(first)), half_mask),
                    _pext_u64(static_cast<std::uint64_t>(_mm_extract_epi64(first, 1)), half_mask),
                    4 * width);
        store_chunk(at + width,
                    _pext_u64(static_cast<std::uint64_t>(_mm_cvtsi128_si64(second)), half_mask),
                    _pext_u64(static_cast<std::uint64_t>(_mm_extract_epi64(second, 1)), half_mask),
                    4 * width);
      }
    }
    for (int w = 0; w < 4; ++w)
      _mm512_store_si512(lanes.s[w], state[w]);
  }
  bit_appender out{words + j * width / 64}; // j is a multiple of 64
  qsgd_encode_lanes(v, j, n, q, lanes, out);
  out.flush();
}

} // namespace

const kernel_table kernels_v4 = {fp16_encode,       fp16_decode,     sum_of_squares,
                                 qsgd_encode,       v3::qsgd_decode, v3::qsgd_max_level,
                                 add_sum_of_squares};

} // namespace dsq::detail
