#pragma once

#include "base/random.hpp"
#include "compression/compressed_message.hpp"

#include <span>
#include <string>

namespace dsq {

/// A compression operator C[·] (docs/algorithm.md, "Compression operators").
///
/// Compressors hold only their configuration, so one instance can be shared by any number of
/// threads; all randomness comes from the caller's engine, which keeps runs reproducible.
class compressor {
public:
  virtual ~compressor() = default;

  /// Returns C[v]. Throws std::invalid_argument if v has more than 2^32 - 1 coordinates.
  virtual compressed_message compress(std::span<const float> v, rng_engine& rng) const = 0;

  /// out = C[v], the same message and the same draws from `rng` as compress(), written into
  /// out's vectors: their capacity is kept, so that a caller compressing every step into one
  /// message allocates nothing once it has grown (a fresh vector of a large d costs a page
  /// fault per 4 KiB on first touch, more than the operator). The default calls compress().
  /// Throws like compress(); `out` is then unspecified.
  virtual void compress_into(std::span<const float> v, rng_engine& rng,
                             compressed_message& out) const {
    out = compress(v, rng);
  }

  /// True if E[C[v]] = v for every v.
  virtual bool unbiased() const = 0;

  /// The canonical spec string: make_compressor(spec()) builds an equal compressor.
  virtual std::string spec() const = 0;
};

// Decoding is free-standing because messages describe themselves: the receiver of a message
// need not know which compressor the sender used.

/// out = C[v]. Throws std::invalid_argument if out.size() != m.dimension() or if the message is
/// internally inconsistent (which from_bytes never lets through), and for a custom message if
/// its operator is not registered here or refuses the payload (its decode is the operator's own:
/// from_bytes checks the payload's size, not its content).
void decompress(const compressed_message& m, std::span<float> out);

/// out += scale * C[v], touching only the kept coordinates of sparse messages.
/// Throws like decompress.
void add_scaled(const compressed_message& m, float scale, std::span<float> out);

/// out = 0 + scale * C[v]: bit for bit what filling out with 0 and then add_scaled give (so -0
/// is written as +0), in one pass that does not read out for the dense operators.
/// Throws like decompress.
void assign_scaled(const compressed_message& m, float scale, std::span<float> out);

} // namespace dsq
