#pragma once

// Pieces the kernels of every level share. Plain inline functions compiled for the baseline:
// inlined into a kernel of a higher level they take its instructions, and any out-of-line copy
// the linker keeps runs everywhere.

#include "compression/detail/kernels.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsq::detail {

/// The QSGD field of one coordinate x: its level, stochastically rounded with `uniform` in
/// [0, 1), then its sign bit above the level's bits. `s` is q.levels as a float.
inline std::uint32_t qsgd_field(float x, float uniform, float s, const qsgd_quantizer& q) noexcept {
  const float scaled = std::fabs(x) * q.levels_per_unit;
  std::uint32_t level;
  if (!(scaled < s)) { // also catches NaN and rounding just above s
    level = q.levels;
  } else {
    const float floor = std::floor(scaled);
    level = static_cast<std::uint32_t>(floor) + (uniform < scaled - floor ? 1u : 0u);
  }
  // A zero level carries no sign, so it is written as +; this keeps encoding canonical.
  const std::uint32_t negative = (x < 0.0f && level != 0) ? 1u : 0u;
  return level | (negative << q.level_bits);
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

/// Bits `position` on of a stream of 64-bit words, at least 57 of them valid, by one unaligned
/// load (x86 is little-endian: the words' bytes are the stream's bytes in order). The caller
/// makes sure the 8 bytes from byte position / 8 on are within the stream.
inline std::uint64_t bits_at(const std::uint64_t* words, std::size_t position) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, reinterpret_cast<const unsigned char*>(words) + position / 8, sizeof bits);
  return bits >> (position % 8);
}

} // namespace dsq::detail
