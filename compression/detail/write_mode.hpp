#pragma once

#include "compression/compressed_message.hpp"

#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>

namespace dsq::detail {

/// How a decoder writes what it decodes: out_j = x (decompress), out_j += scale * x
/// (add_scaled) or out_j = 0.0f + scale * x (assign_scaled). One decoder body serves all,
/// instantiated once for each.
struct write_mode {
  bool accumulate = false;
  float scale = 1.0f;
  /// With accumulate: out is taken to hold zeros and is not read, out_j = 0.0f + scale * x, what
  /// filling out with zeros and then accumulating gives (-0 becomes +0). Only the decoders that
  /// compressor.cpp's decode() lists as taking it receive it.
  bool onto_zeros = false;
};

/// Calls body(write) with write(out_j, x) doing what `mode` says, as a distinct type per mode so
/// that the inner loops carry no branch on it.
template <class Body>
void with_writer(write_mode mode, Body&& body) {
  if (mode.accumulate && mode.onto_zeros) {
    const float scale = mode.scale;
    body([scale](float& out, float x) { out = 0.0f + scale * x; });
  } else if (mode.accumulate) {
    const float scale = mode.scale;
    body([scale](float& out, float x) { out += scale * x; });
  } else {
    body([](float& out, float x) { out = x; });
  }
}

/// The dimension a message of v must declare; compressors refuse what does not fit in 32 bits.
inline std::uint32_t checked_dimension(std::size_t size) {
  if (size > std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument("compress: vectors longer than 2^32 - 1 are not supported");
  return static_cast<std::uint32_t>(size);
}

// One decoder per payload kind, reached through dsq::decompress and dsq::add_scaled once the
// message's payload sizes have been checked against its layout.
void decode_identity(const compressed_message& m, std::span<float> out, write_mode mode);
void decode_fp16(const compressed_message& m, std::span<float> out, write_mode mode);
void decode_sign(const compressed_message& m, std::span<float> out, write_mode mode);
void decode_sparse(const compressed_message& m, std::span<float> out, write_mode mode);
void decode_qsgd(const compressed_message& m, std::span<float> out, write_mode mode);
/// Through the registered operator named by m.spec; throws std::invalid_argument naming it if the
/// operator refuses the payload.
void decode_custom(const compressed_message& m, std::span<float> out, write_mode mode);

} // namespace dsq::detail
