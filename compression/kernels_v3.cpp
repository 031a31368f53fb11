// The v3 kernels (AVX2, F16C, BMI2), compiled for that level function by function through
// target attributes, so that the file builds in the v2 baseline and nothing of it runs unless
// the dispatcher chose v3 or v4. Each reproduces the v2 reference bit for bit; the comments say
// where the hardware differs from the reference and how the difference is undone.
//
// Helpers are in an anonymous namespace and carry the same attribute: an inline function with
// external linkage compiled here for v3 could be the copy the linker keeps for every caller.

#include "compression/detail/kernels.hpp"
#include "compression/detail/kernels_common.hpp"
#include "compression/half.hpp"

#include <algorithm>
#include <cmath>
#include <immintrin.h>

#define DSQ_V3 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))

namespace dsq::detail {

namespace {

// float -> half for 8 lanes as float_to_half does. VCVTPS2PH rounds to nearest even like the
// reference, subnormals included, but differs in two places, mended before converting:
// finite values from 65520 up become inf (the reference saturates them to 65504), and a NaN
// keeps its payload (the reference makes every NaN the quiet NaN 0x7e00 of its sign).
DSQ_V3 inline __m128i float_to_half_8(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  const __m256i sign = _mm256_and_si256(bits, _mm256_set1_epi32(int(0x80000000u)));
  __m256i magnitude = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i infinity = _mm256_set1_epi32(0x7f800000);
  const __m256i is_nan = _mm256_cmpgt_epi32(magnitude, infinity);
  const __m256i too_large = _mm256_andnot_si256(
      _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7f7fffff)), // finite only
      _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x477fefff)));
  magnitude = _mm256_blendv_epi8(magnitude, _mm256_set1_epi32(0x477fe000), too_large); // 65504
  magnitude = _mm256_blendv_epi8(magnitude, _mm256_set1_epi32(0x7fc00000), is_nan);
  return _mm256_cvtps_ph(_mm256_castsi256_ps(_mm256_or_si256(magnitude, sign)),
                         _MM_FROUND_TO_NEAREST_INT);
}

// half -> float for 8 lanes as half_to_float does. VCVTPH2PS is exact like the reference but
// sets the quiet bit of a signalling NaN; the reference keeps the NaN's bits as they are.
DSQ_V3 inline __m256 half_to_float_8(__m128i h) {
  const __m256 converted = _mm256_cvtph_ps(h);
  const __m256i wide = _mm256_cvtepu16_epi32(h);
  const __m256i magnitude = _mm256_and_si256(wide, _mm256_set1_epi32(0x7fff));
  const __m256i is_nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7c00));
  const __m256i kept = _mm256_or_si256(
      _mm256_or_si256(_mm256_slli_epi32(magnitude, 13), _mm256_set1_epi32(0x70000000)),
      _mm256_slli_epi32(_mm256_and_si256(wide, _mm256_set1_epi32(0x8000)), 16));
  return _mm256_blendv_ps(converted, _mm256_castsi256_ps(kept), _mm256_castsi256_ps(is_nan));
}

} // namespace

namespace v3 {

DSQ_V3 void fp16_encode(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), float_to_half_8(_mm256_loadu_ps(in + j)));
  for (; j < n; ++j)
    out[j] = float_to_half(in[j]);
}

DSQ_V3 void fp16_decode(const std::uint16_t* in, float* out, std::size_t n, write_mode mode) {
  std::size_t j = 0;
  if (mode.accumulate) {
    // out += scale * x as two roundings, as the reference (no fused multiply-add).
    const __m256 scale = _mm256_set1_ps(mode.scale);
    for (; j + 8 <= n; j += 8) {
      const __m256 x = half_to_float_8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + j)));
      _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_loadu_ps(out + j), _mm256_mul_ps(scale, x)));
    }
    for (; j < n; ++j)
      out[j] += mode.scale * half_to_float(in[j]);
  } else {
    for (; j + 8 <= n; j += 8)
      _mm256_storeu_ps(out + j,
                       half_to_float_8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + j))));
    for (; j < n; ++j)
      out[j] = half_to_float(in[j]);
  }
}

namespace {

// The floats whose squares sum_of_squares_of adds: v as it is, four at a time and one by one.
struct floats_of {
  const float* v;
  DSQ_V3 __m128 four(std::size_t j) const { return _mm_loadu_ps(v + j); }
  float one(std::size_t j) const { return v[j]; }
  void prefetch(std::size_t j) const { prefetch_line(v, j); }
};

// v = acc + g, formed and stored as it is read (one float addition per coordinate, as the
// reference's).
struct sums_into {
  float* acc;
  const float* g;
  DSQ_V3 __m128 four(std::size_t j) const {
    const __m128 v = _mm_add_ps(_mm_loadu_ps(acc + j), _mm_loadu_ps(g + j));
    _mm_storeu_ps(acc + j, v);
    return v;
  }
  float one(std::size_t j) const { return acc[j] += g[j]; }
  void prefetch(std::size_t j) const {
    prefetch_line(acc, j);
    prefetch_line(g, j);
  }
};

// The reference's 32 partial sums are the lanes of eight registers: same products, same
// additions, same order; eight independent chains of additions instead of one. Each square and
// its addition are one fused multiply-add, which rounds once where the reference rounds twice,
// and gives the same double: the square of a float is exact in double (24 + 24 bits of 53), so
// the reference's multiply does not round. One instruction fewer per 4 coordinates. The n
// floats come from `floats` (floats_of, sums_into), so that the norm alone and the norm of v
// formed on the way share this loop.
template <class Floats>
DSQ_V3 double sum_of_squares_of(Floats floats, std::size_t n) {
  __m256d partial[8];
  for (auto& p : partial)
    p = _mm256_setzero_pd();
  std::size_t j = 0;
  for (; j + norm_lane_count <= n; j += norm_lane_count) {
    // 32 floats are two lines.
    floats.prefetch(j + norm_prefetch_distance);
    floats.prefetch(j + norm_prefetch_distance + 16);
    for (int r = 0; r < 8; ++r) {
      const __m256d x = _mm256_cvtps_pd(floats.four(j + 4 * r));
      partial[r] = _mm256_fmadd_pd(x, x, partial[r]);
    }
  }
  alignas(32) double lanes[norm_lane_count];
  for (int r = 0; r < 8; ++r)
    _mm256_store_pd(lanes + 4 * r, partial[r]);
  for (std::size_t i = 0; j < n; ++j, ++i) {
    const float x = floats.one(j);
    lanes[i] += double(x) * double(x);
  }
  return sum_of_lanes(lanes);
}

} // namespace

DSQ_V3 double sum_of_squares(const float* v, std::size_t n) {
  return sum_of_squares_of(floats_of{v}, n);
}

DSQ_V3 double add_sum_of_squares(float* acc, const float* g, std::size_t n) {
  return sum_of_squares_of(sums_into{acc, g}, n);
}

namespace {

DSQ_V3 inline __m256i rotl_11(__m256i x) {
  return _mm256_or_si256(_mm256_slli_epi32(x, 11), _mm256_srli_epi32(x, 21));
}

// One step of 8 xoshiro128+ lanes (qsgd_lanes::next): their numbers.
DSQ_V3 inline __m256i lanes_next_8(__m256i* s) {
  const __m256i result = _mm256_add_epi32(s[0], s[3]);
  const __m256i t = _mm256_slli_epi32(s[1], 9);
  s[2] = _mm256_xor_si256(s[2], s[0]);
  s[3] = _mm256_xor_si256(s[3], s[1]);
  s[1] = _mm256_xor_si256(s[1], s[2]);
  s[0] = _mm256_xor_si256(s[0], s[3]);
  s[2] = _mm256_xor_si256(s[2], t);
  s[3] = rotl_11(s[3]);
  return result;
}

// qsgd_lane_field for 8 coordinates x[0..7] and their lanes' numbers. The level's truncation
// gives 0x80000000 for NaN and values from 2^31 on, which the unsigned minimum turns into s,
// as the reference's comparison does.
DSQ_V3 inline __m256i qsgd_lane_fields_8(const float* x, __m256i draws, __m256i levels,
                                         __m256 levels_per_unit, __m128i sign_shift) {
  const __m256 value = _mm256_loadu_ps(x);
  // The uniform's scaling and its addition are one fused multiply-add: draw >> 8 times 2^-24 is
  // exact, so rounding once gives the reference's sum of two roundings.
  const __m256 t = _mm256_fmadd_ps(
      _mm256_cvtepi32_ps(_mm256_srli_epi32(draws, 8)), _mm256_set1_ps(0x1p-24f),
      _mm256_mul_ps(_mm256_and_ps(value, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))),
                    levels_per_unit));
  const __m256i level = _mm256_min_epu32(_mm256_cvttps_epi32(t), levels);
  const __m256i negative = _mm256_andnot_si256(_mm256_cmpeq_epi32(level, _mm256_setzero_si256()),
                                               _mm256_srli_epi32(_mm256_castps_si256(value), 31));
  return _mm256_or_si256(level, _mm256_sll_epi32(negative, sign_shift));
}

} // namespace

DSQ_V3 void qsgd_encode(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                        std::uint64_t* words) {
  const unsigned width = q.level_bits + 1;
  qsgd_lanes lanes{rng};
  std::size_t j = 0;
  // 16 coordinates at a time, the lanes' state in registers; every 8 fields packed by one PEXT
  // (fields of up to 8 bits) or two (up to 16) into `width` whole bytes (qsgd_chunked_end).
  // Wider fields (s >= 32768) and the last coordinates take the reference's path.
  if (width <= 16) {
    const std::size_t end = qsgd_chunked_end(n);
    auto* bytes = reinterpret_cast<unsigned char*>(words);
    const __m256i levels = _mm256_set1_epi32(static_cast<int>(q.levels));
    const __m256 levels_per_unit = _mm256_set1_ps(q.levels_per_unit);
    const __m128i sign_shift = _mm_cvtsi32_si128(static_cast<int>(q.level_bits));
    const std::uint64_t byte_mask = lane_mask(width, 8);
    const std::uint64_t half_mask = lane_mask(width, 16);
    __m256i low[4], high[4]; // lanes 0-7 and 8-15
    for (int w = 0; w < 4; ++w) {
      low[w] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes.s[w]));
      high[w] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes.s[w] + 8));
    }
    // `chunk` runs along with j (2 * width bytes per 16 coordinates), a multiply fewer.
    for (unsigned char* chunk = bytes; j < end; j += qsgd_lane_count, chunk += 2 * width) {
      for (int part = 0; part < 2; ++part) {
        const __m256i fields =
            qsgd_lane_fields_8(v + j + 8 * part, lanes_next_8(part == 0 ? low : high), levels,
                               levels_per_unit, sign_shift);
        const __m128i halves =
            _mm_packus_epi32(_mm256_castsi256_si128(fields), _mm256_extracti128_si256(fields, 1));
        unsigned char* at = chunk + part * width;
        if (width <= 8) {
          const auto packed =
              static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(halves, halves)));
          store_chunk(at, _pext_u64(packed, byte_mask));
        } else {
          store_chunk(
              at, _pext_u64(static_cast<std::uint64_t>(_mm_cvtsi128_si64(halves)), half_mask),
              _pext_u64(static_cast<std::uint64_t>(_mm_extract_epi64(halves, 1)), half_mask),
              4 * width);
        }
      }
    }
    for (int w = 0; w < 4; ++w) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes.s[w]), low[w]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes.s[w] + 8), high[w]);
    }
  }
  bit_appender out{words + j * width / 64}; // j is a multiple of 64
  qsgd_encode_lanes(v, j, n, q, lanes, out);
  out.flush();
}

namespace {

// ±level · unit for 8 fields in 32-bit lanes: the reference's multiply, and its negation as a
// flip of the sign bit.
DSQ_V3 inline __m256 qsgd_values_8(__m256i fields, unsigned level_bits, __m256 unit) {
  const __m256i level = _mm256_and_si256(fields, _mm256_set1_epi32((1 << level_bits) - 1));
  const __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(fields, level_bits), 31);
  return _mm256_xor_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(level), unit), _mm256_castsi256_ps(sign));
}

// 8 fields of up to 8 bits, the low 8 * width bits of `bits`, into 32-bit lanes.
DSQ_V3 inline __m256i spread_bytes(std::uint64_t bits, std::uint64_t byte_mask) {
  return _mm256_cvtepu8_epi32(
      _mm_cvtsi64_si128(static_cast<long long>(_pdep_u64(bits, byte_mask))));
}

// 8 fields of up to 16 bits, 4 in the low 4 * width bits of each of `low` and `high`.
DSQ_V3 inline __m256i spread_halves(std::uint64_t low, std::uint64_t high,
                                    std::uint64_t half_mask) {
  return _mm256_cvtepu16_epi32(_mm_set_epi64x(static_cast<long long>(_pdep_u64(high, half_mask)),
                                              static_cast<long long>(_pdep_u64(low, half_mask))));
}

// Writes the values of 8 fields to out[0..7] as `mode` says, as the reference's writer:
// out = x, or out + scale * x with two roundings.
DSQ_V3 inline void store_8(float* out, __m256i fields, unsigned level_bits, __m256 unit,
                           write_mode mode) {
  const __m256 x = qsgd_values_8(fields, level_bits, unit);
  _mm256_storeu_ps(
      out, mode.accumulate
               ? _mm256_add_ps(_mm256_loadu_ps(out), _mm256_mul_ps(_mm256_set1_ps(mode.scale), x))
               : x);
}

} // namespace

DSQ_V3 void qsgd_decode(const std::uint64_t* words, std::size_t n, unsigned level_bits, float unit,
                        float* out, write_mode mode) {
  const unsigned width = level_bits + 1;
  const __m256 units = _mm256_set1_ps(unit);
  std::size_t j = 0;
  std::size_t position = 0; // in bits
  const std::uint64_t byte_mask = lane_mask(width, 8);
  const std::uint64_t half_mask = lane_mask(width, 16);
  // 8 fields at a time, spread into bytes (fields of up to 7 bits) or 16-bit lanes (up to 14)
  // by PDEP from one unaligned load each, while 8 bytes from the load's first byte on are
  // still within the stream.
  const std::size_t stream_bytes = (n * width + 63) / 64 * 8;
  if (width <= 7) {
    for (; j + 8 <= n && (position + 8 * width) / 8 + 8 <= stream_bytes;
         j += 8, position += 8 * width)
      store_8(out + j, spread_bytes(bits_at(words, position), byte_mask), level_bits, units, mode);
  } else if (width <= 14) {
    for (; j + 8 <= n && (position + 8 * width) / 8 + 8 <= stream_bytes;
         j += 8, position += 8 * width)
      store_8(
          out + j,
          spread_halves(bits_at(words, position), bits_at(words, position + 4 * width), half_mask),
          level_bits, units, mode);
  }
  // The stream's last groups, and fields of 15 and 16 bits: the same, word by word.
  bit_extractor in{words, position};
  if (width <= 16) {
    for (; j + 8 <= n; j += 8) {
      if (width <= 8) {
        store_8(out + j, spread_bytes(in.get(8 * width), byte_mask), level_bits, units, mode);
      } else {
        const std::uint64_t low = in.get(4 * width);
        store_8(out + j, spread_halves(low, in.get(4 * width), half_mask), level_bits, units, mode);
      }
    }
  }
  qsgd_decode_fields(in, j, n, level_bits, unit, out, mode);
}

// The fields spread into 32-bit lanes as qsgd_decode spreads them; the largest level is the
// unsigned maximum of their low level_bits bits.
DSQ_V3 std::uint32_t qsgd_max_level(const std::uint64_t* words, std::size_t n,
                                    unsigned level_bits) {
  const unsigned width = level_bits + 1;
  const auto level_mask = static_cast<std::uint32_t>((std::uint64_t{1} << level_bits) - 1);
  const __m256i levels = _mm256_set1_epi32(static_cast<int>(level_mask));
  __m256i most = _mm256_setzero_si256();
  std::size_t j = 0;
  std::size_t position = 0; // in bits
  const std::uint64_t byte_mask = lane_mask(width, 8);
  const std::uint64_t half_mask = lane_mask(width, 16);
  const std::size_t stream_bytes = (n * width + 63) / 64 * 8;
  if (width <= 7) {
    for (; j + 8 <= n && (position + 8 * width) / 8 + 8 <= stream_bytes;
         j += 8, position += 8 * width)
      most = _mm256_max_epu32(
          most, _mm256_and_si256(spread_bytes(bits_at(words, position), byte_mask), levels));
  } else if (width <= 14) {
    for (; j + 8 <= n && (position + 8 * width) / 8 + 8 <= stream_bytes;
         j += 8, position += 8 * width)
      most = _mm256_max_epu32(
          most, _mm256_and_si256(spread_halves(bits_at(words, position),
                                               bits_at(words, position + 4 * width), half_mask),
                                 levels));
  }
  bit_extractor in{words, position};
  if (width <= 16) {
    for (; j + 8 <= n; j += 8) {
      __m256i fields;
      if (width <= 8) {
        fields = spread_bytes(in.get(8 * width), byte_mask);
      } else {
        const std::uint64_t low = in.get(4 * width);
        fields = spread_halves(low, in.get(4 * width), half_mask);
      }
      most = _mm256_max_epu32(most, _mm256_and_si256(fields, levels));
    }
  }
  alignas(32) std::uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), most);
  std::uint32_t result = 0;
  for (const auto lane : lanes)
    result = std::max(result, lane);
  for (; j < n; ++j)
    result = std::max(result, static_cast<std::uint32_t>(in.get(width)) & level_mask);
  return result;
}

DSQ_V3 bool all_finite(const float* v, std::size_t n) {
  return no_nan_or_infinity(v, n);
}

} // namespace v3

const kernel_table kernels_v3 = {v3::fp16_encode,        v3::fp16_decode, v3::sum_of_squares,
                                 v3::qsgd_encode,        v3::qsgd_decode, v3::qsgd_max_level,
                                 v3::add_sum_of_squares, v3::all_finite};

} // namespace dsq::detail
