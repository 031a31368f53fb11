#pragma once

// Pieces the kernels of every level share. Plain inline functions compiled for the baseline:
// inlined into a kernel of a higher level they take its instructions, and any out-of-line copy
// the linker keeps runs everywhere.

#include "compression/detail/kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <xmmintrin.h>

namespace dsq::detail {

/// The lanes of QSGD's random numbers and of its norm's partial sums: coordinate j takes lane
/// j mod 16, so that 16 lanes fill one AVX-512 register, two AVX2 ones, and every level
/// computes the same numbers.
inline constexpr std::size_t qsgd_lane_count = 16;

/// QSGD's random numbers: 16 independent xoshiro128+ generators, seeded from 32 draws of the
/// operator's engine, each step giving one 32-bit number per lane. A serial chain of draws
/// (one engine for every coordinate) would be the encoder's speed limit; independent lanes are
/// computed side by side in SIMD registers.
struct qsgd_lanes {
  alignas(64) std::uint32_t s[4][qsgd_lane_count];

  /// Seeds lane i with the draws 2i and 2i + 1 of `rng` (a lane of all zeros, which would stay
  /// zero, starts at 1 instead).
  explicit qsgd_lanes(rng_engine& rng) noexcept {
    for (std::size_t i = 0; i < qsgd_lane_count; ++i) {
      const std::uint64_t a = rng();
      const std::uint64_t b = rng();
      s[0][i] = static_cast<std::uint32_t>(a);
      s[1][i] = static_cast<std::uint32_t>(a >> 32);
      s[2][i] = static_cast<std::uint32_t>(b);
      s[3][i] = static_cast<std::uint32_t>(b >> 32);
      if ((a | b) == 0)
        s[0][i] = 1;
    }
  }

  /// One step of every lane: out[i] is lane i's next number (xoshiro128+).
  void next(std::uint32_t* out) noexcept {
    for (std::size_t i = 0; i < qsgd_lane_count; ++i) {
      out[i] = s[0][i] + s[3][i];
      const std::uint32_t t = s[1][i] << 9;
      s[2][i] ^= s[0][i];
      s[3][i] ^= s[1][i];
      s[1][i] ^= s[2][i];
      s[0][i] ^= s[3][i];
      s[2][i] ^= t;
      s[3][i] = std::rotl(s[3][i], 11);
    }
  }
};

/// The QSGD field of one coordinate x with the lane's number `draw`: its level
/// floor(|x|·s/‖v‖ + u), u the draw's top 24 bits as a uniform in [0, 1), which rounds up with
/// probability equal to the fraction (capped at s; a NaN or an overflow gives s), then the
/// sign bit of x above the level's bits when the level is not 0 (a zero level is sent as +,
/// which keeps encoding canonical).
inline std::uint32_t qsgd_lane_field(float x, std::uint32_t draw,
                                     const qsgd_quantizer& q) noexcept {
  const float uniform = static_cast<float>(draw >> 8) * 0x1p-24f;
  const float t = std::fabs(x) * q.levels_per_unit + uniform; // two roundings, never fused
  const std::uint32_t level =
      t < static_cast<float>(q.levels) ? static_cast<std::uint32_t>(t) : q.levels;
  const std::uint32_t negative = (std::bit_cast<std::uint32_t>(x) >> 31) & (level != 0 ? 1u : 0u);
  return level | (negative << q.level_bits);
}

/// Where a kernel may stop writing 8 fields at a time into byte-aligned chunks: every chunk of
/// 8 fields of `width` bits is `width` whole bytes, written by one unaligned store of 8 or 16
/// bytes whose zero tail the next chunk overwrites. Stopping at a multiple of 64 coordinates
/// leaves a word-aligned position for the rest (bit_appender), and leaving one block of 64
/// coordinates to it keeps the stores' tails inside the stream.
inline std::size_t qsgd_chunked_end(std::size_t n) noexcept {
  return n >= 128 ? (n / 64 - 1) * 64 : 0;
}

/// Stores the low `bytes` bytes of `value` (and zeros up to 8) at `at`: a chunk of fields.
inline void store_chunk(unsigned char* at, std::uint64_t value) noexcept {
  std::memcpy(at, &value, sizeof value);
}

/// store_chunk for chunks of 9 to 16 bytes: `low` (its low `low_bits` bits, 36 to 64 of
/// them), then `high` above them.
inline void store_chunk(unsigned char* at, std::uint64_t low, std::uint64_t high,
                        unsigned low_bits) noexcept {
  // Shifted in two steps, since a shift by 64 (low_bits = 64) is undefined.
  const std::uint64_t words[2] = {low | ((high << (low_bits - 1)) << 1), high >> (64 - low_bits)};
  std::memcpy(at, words, sizeof words);
}

/// The reference's encoding of the coordinates [j, n) of v with `lanes` (the kernels' tail):
/// every 16 coordinates one step of the lanes, coordinate j + i taking lane i.
template <class Writer>
void qsgd_encode_lanes(const float* v, std::size_t j, std::size_t n, const qsgd_quantizer& q,
                       qsgd_lanes& lanes, Writer& out) {
  const unsigned width = q.level_bits + 1;
  std::uint32_t draws[qsgd_lane_count];
  for (; j < n; j += qsgd_lane_count) {
    lanes.next(draws);
    const std::size_t count = n - j < qsgd_lane_count ? n - j : qsgd_lane_count;
    for (std::size_t i = 0; i < count; ++i)
      out.put(qsgd_lane_field(v[j + i], draws[i], q), width);
  }
}

/// The partial sums of QSGD's norm: coordinate j's square goes to sum j mod 32, so that four
/// AVX-512 or eight AVX2 registers hold them, enough independent chains of additions to hide
/// their latency.
inline constexpr std::size_t norm_lane_count = 32;

/// How far ahead of its reads the norm's pass asks for v's lines (prefetch_line), in floats.
/// The pass adds one square to each of its 32 partial sums per 32 floats, a chain of fused
/// multiply-adds (4 cycles at v4 on the project's machine: ~10^6 floats in 36 us from any level
/// of cache); from L3 (v of 4 MB) the hardware's prefetcher alone gave 44-47 us there, with
/// this 4 KB lead 35-36 us (docs/performance.md, fifth round of QSGD encode).
inline constexpr std::size_t norm_prefetch_distance = 1024;

/// Asks for the cache line of base[index] (a hint: no fault, whatever the address; computed as
/// an integer, since index may lie past the array's end).
inline void prefetch_line(const float* base, std::size_t index) noexcept {
  _mm_prefetch(
      reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(base) + index * sizeof(float)),
      _MM_HINT_T0);
}

/// The norm's 32 partial sums added as a tree: lane i with lane i + 16, then i + 8, ..., i + 1.
/// A NaN sum is the quiet NaN 0x7ff8... whatever NaNs v held: which of two NaNs an addition
/// keeps depends on its operands' order in the instruction, which the levels do not share.
inline double sum_of_lanes(double* partial) noexcept {
  for (std::size_t half = norm_lane_count / 2; half >= 1; half /= 2)
    for (std::size_t i = 0; i < half; ++i)
      partial[i] += partial[i + half];
  return std::isnan(partial[0]) ? std::numeric_limits<double>::quiet_NaN() : partial[0];
}

/// True if no v[j], j < n, is a NaN or an infinity: the largest exponent field of all is not all
/// ones. Integer operations, so that the loop is vectorised at the level of the kernel it is
/// inlined into (a float test, as std::isfinite, is not).
inline bool no_nan_or_infinity(const float* v, std::size_t n) noexcept {
  std::uint32_t largest = 0;
  for (std::size_t j = 0; j < n; ++j)
    largest = std::max(largest, std::bit_cast<std::uint32_t>(v[j]) & 0x7f800000u);
  return largest != 0x7f800000u;
}

/// A 64-bit mask with the low `width` bits of every `lane_bits`-bit lane set (PEXT and PDEP
/// masks that gather fields from lanes or spread them into lanes).
constexpr std::uint64_t lane_mask(unsigned width, unsigned lane_bits) noexcept {
  std::uint64_t mask = 0;
  for (unsigned lane = 0; lane < 64; lane += lane_bits)
    mask |= ((std::uint64_t{1} << width) - 1) << lane;
  return mask;
}

/// bit_writer for fields of up to 64 bits: appends to a stream of 64-bit words, least
/// significant bit first, writing words as they fill (the same stream bit_writer writes).
class bit_appender {
public:
  /// Appends at words[0] on.
  explicit bit_appender(std::uint64_t* words) noexcept : next_(words) {}

  /// value must be below 2^width, width in [1, 64].
  void put(std::uint64_t value, unsigned width) noexcept {
    pending_ |= value << filled_;
    const unsigned total = filled_ + width;
    if (total >= 64) {
      *next_++ = pending_;
      // The bits of value that did not fit (none if it started a word).
      pending_ = filled_ == 0 ? 0 : value >> (64 - filled_);
      filled_ = total - 64;
    } else {
      filled_ = total;
    }
  }

  /// Writes the last, partial word (its unused high bits stay zero).
  void flush() noexcept {
    if (filled_ > 0)
      *next_++ = pending_;
    pending_ = 0;
    filled_ = 0;
  }

private:
  std::uint64_t* next_;
  std::uint64_t pending_ = 0;
  unsigned filled_ = 0;
};

/// bit_reader for fields of up to 64 bits. The caller guarantees the stream holds them.
class bit_extractor {
public:
  /// Reads from bit `position` of words[0] on.
  explicit bit_extractor(const std::uint64_t* words, std::size_t position = 0) noexcept
      : words_(words), position_(position) {}

  /// The next `width` bits, width in [1, 64].
  std::uint64_t get(unsigned width) noexcept {
    const std::size_t word = position_ / 64;
    const unsigned offset = position_ % 64;
    std::uint64_t bits = words_[word] >> offset;
    if (offset + width > 64) // offset > 0 here
      bits |= words_[word + 1] << (64 - offset);
    position_ += width;
    return width == 64 ? bits : bits & ((std::uint64_t{1} << width) - 1);
  }

private:
  const std::uint64_t* words_;
  std::size_t position_;
};

/// QSGD's coordinates [j, n) from the fields `in` reads, written as the reference writes them
/// (out = x, or out + scale * x with two roundings): the SIMD decoders' last coordinates.
[[gnu::always_inline]] inline void qsgd_decode_fields(bit_extractor& in, std::size_t j,
                                                      std::size_t n, unsigned level_bits,
                                                      float unit, float* out, write_mode mode) {
  const unsigned width = level_bits + 1;
  for (; j < n; ++j) {
    const auto field = static_cast<std::uint32_t>(in.get(width));
    const float magnitude = static_cast<float>(field & ((1u << level_bits) - 1)) * unit;
    const float x = (field >> level_bits) ? -magnitude : magnitude;
    out[j] = mode.accumulate ? out[j] + mode.scale * x : x;
  }
}

/// Bits `position` on of a stream of 64-bit words, at least 57 of them valid, by one unaligned
/// load (x86 is little-endian: the words' bytes are the stream's bytes in order). The caller
/// makes sure the 8 bytes from byte position / 8 on are within the stream.
inline std::uint64_t bits_at(const std::uint64_t* words, std::size_t position) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, reinterpret_cast<const unsigned char*>(words) + position / 8, sizeof bits);
  return bits >> (position % 8);
}

} // namespace dsq::detail
