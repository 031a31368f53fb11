#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dsq {

/// Appends fields of up to 32 bits to a stream of 64-bit words, least significant bit first.
/// The caller sizes the words; fields may straddle two words.
class bit_writer {
public:
  explicit bit_writer(std::span<std::uint64_t> words) noexcept : words_(words) {}

  /// value must be below 2^width, width in [1, 32].
  void put(std::uint32_t value, unsigned width) noexcept {
    pending_ |= std::uint64_t{value} << filled_;
    filled_ += width;
    if (filled_ >= 64) {
      words_[next_++] = pending_;
      filled_ -= 64;
      // The bits of value that did not fit; shifting by width yields 0 when all of them did.
      pending_ = std::uint64_t{value} >> (width - filled_);
    }
  }

  /// Writes the last, partial word (its unused high bits stay zero).
  void flush() noexcept {
    if (filled_ > 0)
      words_[next_++] = pending_;
    pending_ = 0;
    filled_ = 0;
  }

private:
  std::span<std::uint64_t> words_;
  std::uint64_t pending_ = 0;
  unsigned filled_ = 0;
  std::size_t next_ = 0;
};

/// Reads back what bit_writer wrote. The caller guarantees the stream holds the bits it asks for.
class bit_reader {
public:
  explicit bit_reader(std::span<const std::uint64_t> words) noexcept : words_(words) {}

  /// width in [1, 32].
  std::uint32_t get(unsigned width) noexcept {
    const std::size_t word = position_ / 64;
    const unsigned offset = position_ % 64;
    std::uint64_t bits = words_[word] >> offset;
    if (offset + width > 64)
      bits |= words_[word + 1] << (64 - offset);
    position_ += width;
    return static_cast<std::uint32_t>(bits & ((std::uint64_t{1} << width) - 1));
  }

private:
  std::span<const std::uint64_t> words_;
  std::size_t position_ = 0;
};

} // namespace dsq
