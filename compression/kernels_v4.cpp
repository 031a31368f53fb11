// The v4 kernels (AVX-512 F/BW/DQ/VL on top of v3), compiled for that level function by
// function through target attributes, like kernels_v3.cpp. The half conversions, QSGD's norm
// and its encoder are wider here; the v4 table takes QSGD's decoding from v3.

#include "compression/detail/kernels.hpp"
#include "compression/detail/kernels_common.hpp"
#include "compression/detail/lane_jump.hpp"
#include "compression/half.hpp"

#include <array>
#include <bit>
#include <cstring>
#include <immintrin.h>
#include <type_traits>
#include <utility>

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

// The floats whose squares sum_of_squares_of adds: v as it is, eight at a time and one by one.
struct floats_of {
  const float* v;
  DSQ_V4 __m256 eight(std::size_t j) const { return _mm256_loadu_ps(v + j); }
  void prefetch(std::size_t j) const { prefetch_line(v, j); }
  float one(std::size_t j) const { return v[j]; }
};

// v = acc + g, formed and stored as it is read (one float addition per coordinate, as the
// reference's).
struct sums_into {
  float* acc;
  const float* g;
  DSQ_V4 __m256 eight(std::size_t j) const {
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(acc + j), _mm256_loadu_ps(g + j));
    _mm256_storeu_ps(acc + j, v);
    return v;
  }
  float one(std::size_t j) const { return acc[j] += g[j]; }
  void prefetch(std::size_t j) const {
    prefetch_line(acc, j);
    prefetch_line(g, j);
  }
};

// The reference's 32 partial sums are the lanes of four registers (same products, same
// additions, same order), as v3's eight, each square and its addition one exact-product fused
// multiply-add as there; the floats from `floats` as there (floats_of, sums_into).
template <class Floats>
DSQ_V4 double sum_of_squares_of(Floats floats, std::size_t n) {
  __m512d partial[4];
  for (auto& p : partial)
    p = _mm512_setzero_pd();
  std::size_t j = 0;
  for (; j + norm_lane_count <= n; j += norm_lane_count) {
    // 32 floats are two lines.
    floats.prefetch(j + norm_prefetch_distance);
    floats.prefetch(j + norm_prefetch_distance + 16);
    for (int r = 0; r < 4; ++r) {
      const __m512d x = _mm512_cvtps_pd(floats.eight(j + 8 * r));
      partial[r] = _mm512_fmadd_pd(x, x, partial[r]);
    }
  }
  alignas(64) double lanes[norm_lane_count];
  for (int r = 0; r < 4; ++r)
    _mm512_store_pd(lanes + 8 * r, partial[r]);
  for (std::size_t i = 0; j < n; ++j, ++i) {
    const float x = floats.one(j);
    lanes[i] += double(x) * double(x);
  }
  return sum_of_lanes(lanes);
}

DSQ_V4 double sum_of_squares(const float* v, std::size_t n) {
  return sum_of_squares_of(floats_of{v}, n);
}

DSQ_V4 double add_sum_of_squares(float* acc, const float* g, std::size_t n) {
  return sum_of_squares_of(sums_into{acc, g}, n);
}

// One step of the 16 xoshiro128+ lanes (qsgd_lanes::next): their numbers. The generator's five
// xors are four here: VPTERNLOGD 0x96 is a ^ b ^ c, and s1 ^ s2 ^ s0 and s2 ^ s0 ^ t are the
// reference's new s1 and s2. VPTERNLOGD overwrites its first operand, so each one's first
// operand is a value that dies there (else the compiler copies it first).
DSQ_V4 inline __m512i lanes_next_16(__m512i* s) {
  const __m512i result = _mm512_add_epi32(s[0], s[3]);
  const __m512i t = _mm512_slli_epi32(s[1], 9);
  const __m512i s3 = _mm512_xor_si512(s[3], s[1]);
  s[1] = _mm512_ternarylogic_epi32(s[1], s[2], s[0], 0x96);
  s[2] = _mm512_ternarylogic_epi32(s[2], s[0], t, 0x96);
  s[0] = _mm512_xor_si512(s[0], s3);
  s[3] = _mm512_rol_epi32(s3, 11);
  return result;
}

// The level of 16 coordinates with the sign of x, before the cap at s: the truncation of
// ±(|x|·s/‖v‖ + u). The uniform takes x's sign (a bit select) and is added to x·s/‖v‖, whose
// rounding is that of |x|·s/‖v‖ with the sign: rounding to nearest is symmetric, so the
// truncation's magnitude is the reference's level before its cap, and a level 0 has no sign
// (the reference's canonical +). draw & ~0xff converts exactly (24 significant bits) and times
// 2^-32 is the reference's uniform. NaN and values from 2^31 on give INT_MIN (for which
// qsgd_encode takes the reference's path).
DSQ_V4 inline __m512i qsgd_signed_levels_16(const float* x, __m512i draws, __m512 levels_per_unit) {
  const __m512 value = _mm512_loadu_ps(x);
  const __m512i uniform = _mm512_castps_si512(
      _mm512_cvtepu32_ps(_mm512_and_si512(draws, _mm512_set1_epi32(int(0xffffff00u)))));
  // uniform | (value & sign): 0xF8 is A | (B & C).
  const __m512 signed_uniform = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
      uniform, _mm512_castps_si512(value), _mm512_set1_epi32(int(0x80000000u)), 0xF8));
  return _mm512_cvttps_epi32(_mm512_fmadd_ps(signed_uniform, _mm512_set1_ps(0x1p-32f),
                                             _mm512_mul_ps(value, levels_per_unit)));
}

// After packing four registers of 32-bit lanes to bytes in-lane (VPACKSSDW/VPACKUSDW, then
// VPACKSSWB/VPACKUSWB), 32-bit lane 4k + r holds coordinates 16r + 4k to 16r + 4k + 3: this
// puts lane 4(g mod 4) + g / 4 at g, the coordinates' order.
DSQ_V4 inline __m512i bytes_in_order(__m512i bytes) {
  return _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), bytes);
}

// The signed levels of the 64 coordinates v[0..63], one byte each in the coordinates' order,
// the lanes stepped four times: narrowed with signed saturation, so that a byte keeps its
// level's sign.
DSQ_V4 inline __m512i qsgd_signed_bytes_64(const float* v, __m512i* state, __m512 levels_per_unit) {
  __m512i signed_levels[4];
  for (int r = 0; r < 4; ++r)
    signed_levels[r] = qsgd_signed_levels_16(v + 16 * r, lanes_next_16(state), levels_per_unit);
  return bytes_in_order(_mm512_packs_epi16(_mm512_packs_epi32(signed_levels[0], signed_levels[1]),
                                           _mm512_packs_epi32(signed_levels[2], signed_levels[3])));
}

// The fields of Width <= 8 bits of 64 coordinates from their signed bytes `bytes`
// (qsgd_signed_bytes_64), one byte each: the field is the magnitude capped at s (VPABSB,
// VPMINUB) with the byte's sign bit moved to bit Width - 1 (a 16-bit shift moves each byte's
// bit 7 there; the bits it brings from the neighbour byte are masked off). `byte_levels` holds
// s in every byte. A byte of -128 is a NaN, an overflow (INT_MIN) or a level of 128 or more
// below zero, whose field this may get wrong (the reference's is s with x's sign): its
// magnitude, the only one of 128, is or-ed into `magnitudes`, for the encoder to see
// (qsgd_encode).
template <unsigned Width>
DSQ_V4 inline __m512i qsgd_byte_fields_64(__m512i bytes, __m512i byte_levels, __m512i& magnitudes) {
  const __m512i sign_bit = _mm512_set1_epi8(static_cast<char>(1u << (Width - 1)));
  const __m512i magnitude = _mm512_abs_epi8(bytes);
  magnitudes = _mm512_or_si512(magnitudes, magnitude);
  // magnitude | (sign & bit Width - 1): 0xF8 is A | (B & C).
  return _mm512_ternarylogic_epi32(_mm512_min_epu8(magnitude, byte_levels),
                                   _mm512_srli_epi16(bytes, 8 - Width), sign_bit, 0xF8);
}

// The signed levels of the 32 coordinates v[0..31], one per 16-bit lane, the lanes stepped
// twice (qsgd_signed_bytes_64 with halves). After the pack (VPACKSSDW), 64-bit lane 2k + r holds
// coordinates 16r + 4k to 16r + 4k + 3: `InOrder` puts them back in the coordinates' order by
// one permutation (word_fields_packer takes them as they are).
template <bool InOrder>
DSQ_V4 inline __m512i qsgd_signed_halves_32(const float* v, __m512i* state,
                                            __m512 levels_per_unit) {
  __m512i signed_levels[2];
  for (int r = 0; r < 2; ++r)
    signed_levels[r] = qsgd_signed_levels_16(v + 16 * r, lanes_next_16(state), levels_per_unit);
  const __m512i packed = _mm512_packs_epi32(signed_levels[0], signed_levels[1]);
  if constexpr (InOrder)
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), packed);
  else
    return packed;
}

// The fields of 9 <= Width <= 16 bits of 32 coordinates from their signed halves
// (qsgd_signed_halves_32): qsgd_byte_fields_64 with halves (s <= 32767 here; a half of
// -32768, magnitude 32768, is the one this may get wrong).
template <unsigned Width>
DSQ_V4 inline __m512i qsgd_half_fields_32(__m512i halves, __m512i half_levels,
                                          __m512i& magnitudes) {
  const __m512i sign_bit = _mm512_set1_epi16(static_cast<short>(1u << (Width - 1)));
  const __m512i magnitude = _mm512_abs_epi16(halves);
  magnitudes = _mm512_or_si512(magnitudes, magnitude);
  return _mm512_ternarylogic_epi32(_mm512_min_epu16(magnitude, half_levels),
                                   _mm512_srli_epi16(halves, 16 - Width), sign_bit, 0xF8);
}

// 64 fields of an even Width <= 8 bits, one per byte, joined into 8 * Width bytes at the start
// of the result: byte pairs into 16 bits (VPMADDUBSW by 1 and 2^Width), those pairs into 32 bits
// (VPMADDWD by 1 and 2^(2 Width)), so that each 32-bit lane holds 4 fields in Width / 2 whole
// bytes; VPSHUFB gathers each 128-bit lane's 2 Width bytes at its start and VPERMD the four
// lanes' Width / 2 dwords.
template <unsigned Width>
class even_width_packer {
public:
  DSQ_V4 even_width_packer() {
    alignas(64) std::int8_t bytes[64];
    for (int lane = 0; lane < 4; ++lane)
      for (int i = 0; i < 16; ++i)
        bytes[16 * lane + i] = i < 2 * int(Width)
                                   ? static_cast<std::int8_t>(4 * (i / half_width) + i % half_width)
                                   : std::int8_t{-1};
    gather_bytes_ = _mm512_load_si512(bytes);
    alignas(64) std::int32_t dwords[16] = {};
    int next = 0;
    for (int lane = 0; lane < 4; ++lane)
      for (int k = 0; k < half_width; ++k)
        dwords[next++] = 4 * lane + k;
    gather_dwords_ = _mm512_load_si512(dwords);
  }

  DSQ_V4 __m512i operator()(__m512i fields) const {
    const __m512i pairs =
        _mm512_maddubs_epi16(fields, _mm512_set1_epi16(static_cast<short>(1 | (1 << (8 + Width)))));
    const __m512i quads = _mm512_madd_epi16(pairs, _mm512_set1_epi32(1 | (1 << (16 + 2 * Width))));
    return _mm512_permutexvar_epi32(gather_dwords_, _mm512_shuffle_epi8(quads, gather_bytes_));
  }

private:
  static constexpr int half_width = static_cast<int>(Width) / 2;
  __m512i gather_bytes_, gather_dwords_;
};

// 32 fields of 9 <= Width <= 15 bits, one per 16-bit lane as qsgd_signed_halves_32<false>
// leaves them (not in order), joined into 4 * Width bytes at the start of the result. Field f is
// at bit Width f of the stream, i.e. at bit Width f mod 16 of the stream's word Width f / 16. A
// variable shift left puts every field at its bit in its word (`low`), one right its bits past
// that word (`high`, zero where none); each of the stream's words is then the or of at most
// three of them (Width > 8: at most two fields start in a word, and one ends there), each moved
// to its word by one permutation (VPERMW, zeroing where there is none).
template <unsigned Width>
class word_fields_packer {
public:
  DSQ_V4 word_fields_packer() {
    alignas(64) std::int16_t shifts[32], right_shifts[32], first[32] = {}, second[32] = {},
                                                           spilled[32] = {};
    for (int slot = 0; slot < 32; ++slot) {
      shifts[slot] = static_cast<std::int16_t>(bit_of(slot) % 16);
      // A shift by 16 (a field starting a word) gives 0.
      right_shifts[slot] = static_cast<std::int16_t>(16 - bit_of(slot) % 16);
    }
    // Fields in increasing order, so that `first` is the lower of two fields in one word.
    for (int f = 0; f < 32; ++f) {
      const auto slot = static_cast<std::int16_t>(slot_of(f));
      const unsigned bit = Width * static_cast<unsigned>(f);
      const unsigned word = bit / 16;
      if (!(first_mask_ >> word & 1u)) {
        first[word] = slot;
        first_mask_ |= __mmask32(1u << word);
      } else {
        second[word] = slot;
        second_mask_ |= __mmask32(1u << word);
      }
      if (bit % 16 + Width > 16) {
        spilled[word + 1] = slot;
        spilled_mask_ |= __mmask32(1u << (word + 1));
      }
    }
    shifts_ = _mm512_load_si512(shifts);
    right_shifts_ = _mm512_load_si512(right_shifts);
    first_ = _mm512_load_si512(first);
    second_ = _mm512_load_si512(second);
    spilled_ = _mm512_load_si512(spilled);
  }

  DSQ_V4 __m512i operator()(__m512i fields) const {
    const __m512i low = _mm512_sllv_epi16(fields, shifts_);
    const __m512i high = _mm512_srlv_epi16(fields, right_shifts_);
    // 0xFE is A | B | C.
    return _mm512_ternarylogic_epi32(_mm512_maskz_permutexvar_epi16(first_mask_, first_, low),
                                     _mm512_maskz_permutexvar_epi16(second_mask_, second_, low),
                                     _mm512_maskz_permutexvar_epi16(spilled_mask_, spilled_, high),
                                     0xFE);
  }

private:
  // After VPACKSSDW, the 128-bit lane L holds coordinates 4L to 4L + 3, then 16 + 4L to 19 + 4L.
  static constexpr int slot_of(int field) {
    return field < 16 ? 8 * (field / 4) + field % 4 : 8 * ((field - 16) / 4) + 4 + field % 4;
  }
  static constexpr unsigned bit_of(int slot) {
    const int lane = slot / 8, i = slot % 8;
    return Width * static_cast<unsigned>(i < 4 ? 4 * lane + i : 16 + 4 * lane + i - 4);
  }

  __m512i shifts_, right_shifts_, first_, second_, spilled_;
  __mmask32 first_mask_ = 0, second_mask_ = 0, spilled_mask_ = 0;
};

// One block of QSGD fields of Width bits, 2 to 16: 64 coordinates (Width <= 8) or 32, the
// lanes' state in four registers stepped once per 16, in two steps: `levels` (the signed
// levels, narrowed), then `write`. Fields of up to 8 bits are made as bytes
// (qsgd_byte_fields_64): at 8 bits they are the stream; at even widths they are joined in
// registers (even_width_packer) and written by one store of 32 or 64 bytes; at odd widths each
// 8 of them are joined by one PEXT into Width whole bytes, written by one 8-byte store. Wider
// fields are made as 32-bit lanes, narrowed to halves in-lane (VPACKSSDW): at 16 bits put back
// in order by one permutation, they are the stream; below 16 bits they are joined in registers
// as the pack leaves them (word_fields_packer) and written by one 64-byte store. The stores
// write past the block's Width * coordinates / 8 bytes (zeros, which the next block's store
// overwrites, or the stream's tail, which the reference's path writes after: qsgd_chunked_end
// leaves 64 coordinates or more, at least 8 Width bytes, and a store of 64 bytes at 9 bits and
// up writes 64 - 4 Width < 8 Width past); the last block of a chain followed by another
// chain's first is written exactly (`exact`).
template <unsigned Width>
class qsgd_block_encoder {
public:
  static constexpr std::size_t coordinates = Width <= 8 ? 64 : 32;
  static constexpr std::size_t bytes = coordinates * Width / 8;

  DSQ_V4 explicit qsgd_block_encoder(const qsgd_quantizer& q)
      : byte_levels_(_mm512_set1_epi8(static_cast<char>(q.levels))),
        half_levels_(_mm512_set1_epi16(static_cast<short>(q.levels))),
        levels_per_unit_(_mm512_set1_ps(q.levels_per_unit)) {}

  // The block's signed levels, narrowed (qsgd_signed_bytes_64, qsgd_signed_halves_32).
  DSQ_V4 __m512i levels(const float* v, __m512i* state) const {
    if constexpr (Width <= 8)
      return qsgd_signed_bytes_64(v, state, levels_per_unit_);
    else
      return qsgd_signed_halves_32<Width == 16>(v, state, levels_per_unit_);
  }

  // The fields of the block whose `levels` are given, written at `at`; their magnitudes or-ed
  // into `magnitudes` (qsgd_byte_fields_64).
  DSQ_V4 void write(__m512i levels, unsigned char* at, bool exact, __m512i& magnitudes) const {
    if (exact) {
      unsigned char block[2 * 64];
      write_fields(levels, block, magnitudes);
      std::memcpy(at, block, bytes);
    } else {
      write_fields(levels, at, magnitudes);
    }
  }

  // True if no level of the blocks whose magnitudes were or-ed into `magnitudes` reached the
  // one this encoder may get wrong: every field written is the reference's.
  DSQ_V4 static bool all_fields_right(__m512i magnitudes) {
    if constexpr (Width <= 8)
      return _mm512_movepi8_mask(magnitudes) == 0;
    else
      return _mm512_movepi16_mask(magnitudes) == 0;
  }

private:
  DSQ_V4 void write_fields(__m512i levels, unsigned char* at, __m512i& magnitudes) const {
    alignas(64) std::uint64_t groups[8];
    if constexpr (Width <= 8) {
      const __m512i fields = qsgd_byte_fields_64<Width>(levels, byte_levels_, magnitudes);
      if constexpr (Width == 8) {
        _mm512_storeu_si512(at, fields);
      } else if constexpr (Width <= 4 && Width % 2 == 0) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(at),
                            _mm512_castsi512_si256(packer_(fields)));
      } else if constexpr (Width % 2 == 0) {
        _mm512_storeu_si512(at, packer_(fields));
      } else {
        _mm512_store_si512(groups, fields);
        for (int g = 0; g < 8; ++g)
          store_chunk(at + g * Width, _pext_u64(groups[g], lane_mask(Width, 8)));
      }
    } else {
      const __m512i halves = qsgd_half_fields_32<Width>(levels, half_levels_, magnitudes);
      if constexpr (Width == 16) {
        _mm512_storeu_si512(at, halves);
      } else {
        _mm512_storeu_si512(at, wide_packer_(halves));
      }
    }
  }

  __m512i byte_levels_, half_levels_;
  __m512 levels_per_unit_;
  [[no_unique_address]] even_width_packer<(Width <= 8 && Width % 2 == 0 ? Width : 2)> packer_;
  struct no_packer {};
  [[no_unique_address]] std::conditional_t<(Width > 8 && Width < 16), word_fields_packer<Width>,
                                           no_packer>
      wide_packer_;
};

// The 16 lanes' state `from` moved on by the steps whose jump polynomial is `jump`
// (lane_jump.hpp): 128 steps, whatever their number.
// (GCC 12 warns of the intrinsics' internal _mm512_undefined_epi32 here, its bug 105593.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
DSQ_V4 void jump_lanes(const __m512i* from, const gf2_poly128& jump, __m512i* to) {
  __m512i state[4], sum[4];
  for (int w = 0; w < 4; ++w) {
    state[w] = from[w];
    sum[w] = _mm512_setzero_si512();
  }
  for (unsigned i = 0; i < 128; ++i) {
    if (jump.coefficient(i))
      for (int w = 0; w < 4; ++w)
        sum[w] = _mm512_xor_si512(sum[w], state[w]);
    lanes_next_16(state);
  }
  for (int w = 0; w < 4; ++w)
    to[w] = sum[w];
}
#pragma GCC diagnostic pop

// The chains of the lanes that an encoder runs side by side (qsgd_encode_width): one step of
// a lane depends on the last (two dependent instructions of 2 cycles each at v4), so one chain
// leaves the SIMD units waiting. Measured on the project's machine: 16 lanes' steps alone take
// 4.6 cycles each in one chain, 2.9 in two, 2.0 in four; the s = 16 encoder at d = 10^6 takes
// 101-107 us with two chains, 109-110 with three, 121-125 with four (registers run out) and
// 116-124 with one.
inline constexpr std::size_t lane_chains = 2;

// The steps (16 coordinates each) of every chain but the last, of the `steps` before
// qsgd_chunked_end: about steps / lane_chains, K, with only K's top four bits kept (the jump
// costs a product per set bit), a multiple of 4 (whole blocks of 64); 0, one chain, for
// vectors of fewer than 8192 coordinates, where the jump's 128 steps would not pay.
inline std::size_t chain_steps(std::size_t steps) noexcept {
  if (steps < 512)
    return 0;
  const std::size_t share = steps / lane_chains;
  const int drop = std::bit_width(share) - 4;
  return (share >> drop) << drop; // drop >= 5: a multiple of 32
}

// The quantisation of v[0, end) (end a multiple of 64, qsgd_chunked_end) into `at` with fields
// of Width bits, in lane_chains chains side by side: chain c from the lanes' state c * K steps
// on (jump_lanes) over the steps [c * K, (c + 1) * K), the last over the rest, each writing its
// own part of the stream. The last chain's state at its end is the lanes' state after every
// step, as the reference leaves it. False if a field may differ from the reference's (a NaN,
// an overflow or a level of s + 1 below zero: qsgd_byte_fields_64), checked once at the end.
template <unsigned Width>
DSQ_V4 bool qsgd_encode_width(const float* v, std::size_t end, const qsgd_quantizer& q,
                              qsgd_lanes& lanes, unsigned char* at) {
  using encoder = qsgd_block_encoder<Width>;
  const encoder encode_block{q};
  // Every index into `state` is a constant once the loops over c are unrolled, so that the
  // states stay in registers. With one chain (share 0) the last chain is the only one.
  const std::size_t share = chain_steps(end / qsgd_lane_count);
  constexpr std::size_t last = lane_chains - 1;
  __m512i state[lane_chains][4];
  for (int w = 0; w < 4; ++w)
    state[share > 0 ? 0 : last][w] = _mm512_load_si512(lanes.s[w]);
  if (share > 0) {
    // Through copies: `state` itself passed to a function that is not inlined would live in
    // memory, stored and loaded at every block.
    const gf2_poly128 jump = lane_jump_polynomial(share);
    for (std::size_t c = 1; c < lane_chains; ++c) {
      __m512i from[4], to[4];
      for (int w = 0; w < 4; ++w)
        from[w] = state[c - 1][w];
      jump_lanes(from, jump, to);
      for (int w = 0; w < 4; ++w)
        state[c][w] = to[w];
    }
  }
  const std::size_t share_blocks = share * qsgd_lane_count / encoder::coordinates;
  const std::size_t blocks = end / encoder::coordinates;
  const auto block_v = [&](std::size_t c, std::size_t i) {
    return v + (c * share_blocks + i) * encoder::coordinates;
  };
  const auto block_at = [&](std::size_t c, std::size_t i) {
    return at + (c * share_blocks + i) * encoder::bytes;
  };
  // Each block's fields are written one block later than its levels are made, so that
  // the packing's chain of dependent instructions runs beside the next block's.
  std::size_t i = 0;
  __m512i magnitudes = _mm512_setzero_si512();
  if (share_blocks > 0) {
    __m512i pending[lane_chains];
    for (std::size_t c = 0; c < lane_chains; ++c)
      pending[c] = encode_block.levels(block_v(c, 0), state[c]);
    for (i = 1; i < share_blocks; ++i)
      for (std::size_t c = 0; c < lane_chains; ++c) {
        const __m512i next = encode_block.levels(block_v(c, i), state[c]);
        encode_block.write(pending[c], block_at(c, i - 1), false, magnitudes);
        pending[c] = next;
      }
    for (std::size_t c = 0; c < lane_chains; ++c)
      encode_block.write(pending[c], block_at(c, i - 1), c < last, magnitudes);
  }
  const std::size_t last_blocks = blocks - last * share_blocks;
  if (i < last_blocks) {
    __m512i pending = encode_block.levels(block_v(last, i), state[last]);
    for (++i; i < last_blocks; ++i) {
      const __m512i next = encode_block.levels(block_v(last, i), state[last]);
      encode_block.write(pending, block_at(last, i - 1), false, magnitudes);
      pending = next;
    }
    encode_block.write(pending, block_at(last, i - 1), false, magnitudes);
  }
  for (int w = 0; w < 4; ++w)
    _mm512_store_si512(lanes.s[w], state[last][w]);
  return encoder::all_fields_right(magnitudes);
}

using qsgd_encode_width_fn = bool (*)(const float*, std::size_t, const qsgd_quantizer&, qsgd_lanes&,
                                      unsigned char*);

// qsgd_encode_width for widths 2 to 16, at index width - 2.
template <std::size_t... I>
constexpr std::array<qsgd_encode_width_fn, sizeof...(I)> qsgd_encoders(std::index_sequence<I...>) {
  return {&qsgd_encode_width<static_cast<unsigned>(I) + 2>...};
}

constexpr auto qsgd_encoder_at_width = qsgd_encoders(std::make_index_sequence<15>{});

DSQ_V4 void qsgd_encode(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                        std::uint64_t* words) {
  const unsigned width = q.level_bits + 1;
  qsgd_lanes lanes{rng};
  std::size_t j = 0;
  // Wider fields (s >= 32768) and the last coordinates take the reference's path.
  if (width <= 16) {
    const qsgd_lanes start = lanes;
    j = qsgd_chunked_end(n);
    if (!qsgd_encoder_at_width[width - 2](v, j, q, lanes, reinterpret_cast<unsigned char*>(words)))
        [[unlikely]] {
      // A NaN, an overflow or a level of s + 1 below zero at s = 2^k - 1 (v with an infinity,
      // where s/‖v‖ is 0): all from the reference's path. Checking each block instead took
      // ~15% of the s = 16 quantisation (a mask compare and a branch per block).
      lanes = start;
      j = 0;
    }
  }
  bit_appender out{words + j * width / 64}; // j is a multiple of 64
  qsgd_encode_lanes(v, j, n, q, lanes, out);
  out.flush();
}

DSQ_V4 bool all_finite(const float* v, std::size_t n) {
  return no_nan_or_infinity(v, n);
}

// QSGD's fields of up to 16 bits, 16 at a time. A group of 16 fields is 16 * width bits, a
// whole number of 16-bit words, so field i of a group starts in the group's word i * width / 16
// at bit i * width % 16 and ends within the next word: one VPERMW puts those two words into
// 32-bit lane i, one VPSRLVD moves the field down. Then the reference's values (v3's
// qsgd_values_8, 16 lanes wide) and its writer. Groups whose 64-byte load would pass the
// stream's end, and fields of 17 bits, go field by field as the reference goes.
DSQ_V4 void qsgd_decode(const std::uint64_t* words, std::size_t n, unsigned level_bits, float unit,
                        float* out, write_mode mode) {
  const unsigned width = level_bits + 1;
  std::size_t j = 0;
  if (width <= 16) {
    alignas(64) std::uint16_t word_of[32];
    alignas(64) std::uint32_t shift_of[16];
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned first = i * width / 16;
      word_of[2 * i] = static_cast<std::uint16_t>(first);
      word_of[2 * i + 1] = static_cast<std::uint16_t>(first + 1);
      shift_of[i] = i * width % 16;
    }
    const __m512i words_of = _mm512_load_si512(word_of);
    const __m512i shifts = _mm512_load_si512(shift_of);
    const __m512i field_mask = _mm512_set1_epi32(static_cast<int>((1u << width) - 1));
    const __m512i level_mask = _mm512_set1_epi32(static_cast<int>((1u << level_bits) - 1));
    const __m512 units = _mm512_set1_ps(unit);
    const __m512 scale = _mm512_set1_ps(mode.scale);
    const auto* bytes = reinterpret_cast<const unsigned char*>(words);
    const std::size_t stream_bytes = (n * width + 63) / 64 * 8;
    const std::size_t group_bytes = 2 * width;
    for (std::size_t at = 0; j + 16 <= n && at + 64 <= stream_bytes; j += 16, at += group_bytes) {
      const __m512i lanes = _mm512_permutexvar_epi16(words_of, _mm512_loadu_si512(bytes + at));
      const __m512i fields = _mm512_and_si512(_mm512_srlv_epi32(lanes, shifts), field_mask);
      const __m512i level = _mm512_and_si512(fields, level_mask);
      const __m512i sign = _mm512_slli_epi32(_mm512_srli_epi32(fields, level_bits), 31);
      const __m512 x = _mm512_castsi512_ps(_mm512_xor_si512(
          _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(level), units)), sign));
      _mm512_storeu_ps(
          out + j,
          mode.accumulate ? _mm512_add_ps(_mm512_loadu_ps(out + j), _mm512_mul_ps(scale, x)) : x);
    }
  }
  bit_extractor in{words, j * width};
  qsgd_decode_fields(in, j, n, level_bits, unit, out, mode);
}

} // namespace

const kernel_table kernels_v4 = {fp16_encode, fp16_decode,        sum_of_squares,     qsgd_encode,
                                 qsgd_decode, v3::qsgd_max_level, add_sum_of_squares, all_finite};

} // namespace dsq::detail
