#pragma once

#include "compression/compressed_message.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace dsq {

/// Bytes that cannot be a compressed_message. Thrown by from_bytes, whose input comes from the
/// network and so may be truncated, corrupted or hostile.
class decode_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// What a decoder accepts before it allocates anything.
struct decode_limits {
  std::uint32_t max_dimension = 1u << 28;
};

/// The wire format, version 1 (docs/compression.md has the byte layout), written with Cereal's
/// portable binary archive: little-endian, bit streams cut to whole bytes.
/// Throws std::invalid_argument if m's payload does not match its op, dim and parameters, and
/// std::length_error if the payload exceeds 2^32 - 1 bytes.
std::vector<std::uint8_t> to_bytes(const compressed_message& m);

/// to_bytes() into `out` (replacing its content, keeping its capacity), for a caller that
/// serialises into one buffer again and again. Throws like to_bytes(); `out` is then empty.
void to_bytes(const compressed_message& m, std::vector<std::uint8_t>& out);

/// The inverse of to_bytes. Throws decode_error unless `bytes` is exactly one well-formed message
/// whose dimension is within `limits`; checks every length against the bytes actually present
/// before allocating, so memory use stays proportional to bytes.size(). A custom message must
/// name an operator registered in this process, with a payload of exactly its payload_bytes(d)
/// bytes (its content is the operator's to check, when decompress() decodes it). Floats are
/// taken as they come: NaN or infinite scales and values decode as such (they cannot make decoding
/// misbehave, and rejecting them would break the round trip of a diverged run's messages).
compressed_message from_bytes(std::span<const std::uint8_t> bytes,
                              const decode_limits& limits = {});

/// from_bytes() into `out`, reusing its buffers (compressed_message.hpp,
/// clear_keeping_capacity). Throws like from_bytes(); `out` is then unspecified.
void from_bytes_into(std::span<const std::uint8_t> bytes, compressed_message& out,
                     const decode_limits& limits = {});

/// to_bytes(m).size(), computed without serialising: the traffic a message costs.
/// Throws std::invalid_argument if m's parameters make no sense for its op.
std::size_t wire_size(const compressed_message& m);

} // namespace dsq
