#pragma once

#include "compression/compressed_message.hpp"

#include <cstdint>

namespace dsq {

/// Largest qsgd level count: keeps a coordinate's field (sign + level) within 17 bits.
inline constexpr std::uint32_t qsgd_max_levels = 65535;

/// The payload sizes that a message's op, dim and parameters imply.
///
/// Both the wire decoder and decompress() check a message against this before touching its
/// payload, so that a size is never trusted just because a field says so.
struct payload_layout {
  std::uint64_t values = 0;  ///< floats
  std::uint64_t indices = 0; ///< 32-bit indices
  std::uint64_t halves = 0;  ///< 16-bit halves
  std::uint64_t bits = 0;    ///< length of the packed bit stream, in bits
  std::uint64_t bytes = 0;   ///< custom: the registered operator's payload_bytes(d)

  std::uint64_t bit_words() const noexcept { return (bits + 63) / 64; }
  std::uint64_t bit_bytes() const noexcept { return (bits + 7) / 8; }

  /// Payload bytes on the wire: bit streams are cut to whole bytes, not whole words.
  std::uint64_t wire_bytes() const noexcept {
    return 4 * values + 4 * indices + 2 * halves + bit_bytes() + bytes;
  }
};

/// Reads only op, dim and the parameters of `header`, never its payload.
/// Throws std::invalid_argument naming the first parameter that makes no sense for the op, or,
/// for a custom message, the operator if it is not registered in this process.
payload_layout layout_of(const compressed_message& header);

/// Bits per coordinate of a qsgd stream with s levels: one sign bit and ceil(log2(s + 1)).
std::uint32_t qsgd_bits_per_coordinate(std::uint32_t levels) noexcept;

} // namespace dsq
