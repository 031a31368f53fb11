#pragma once

#include "compression/operator_id.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// The output of one compression: everything needed to rebuild C[v] without the compressor.
///
/// Which fields are used depends on `op`; unused ones stay empty or zero, so that two messages
/// with the same content compare equal. All packed bit streams are least-significant-bit first
/// within 64-bit words, and bits past the last coordinate are zero.
///
/// | op       | parameters             | payload                                                  |
/// |----------|------------------------|----------------------------------------------------------|
/// | identity | -                      | values: the d floats                                     |
/// | fp16     | -                      | halves: d IEEE binary16 bit patterns                     |
/// | sign     | block (0: one block)   | values: one scale per block; bits: 1 = negative          |
/// | topk     | -                      | indices (strictly increasing) and values, k of each      |
/// | randomk  | shared_seed, seed      | values, and indices unless shared_seed (then regenerated)
/// | | qsgd     | levels (s)             | values: {norm}; bits: per coordinate, level then sign |
/// | custom   | spec                   | payload: the registered operator's payload_bytes(d) bytes|
///
/// Sparse values are the final C[v]_j: an unbiased random-k already carries the d/k factor, so
/// decoding never needs to know how they were scaled.
struct compressed_message {
  operator_id op = operator_id::identity;
  std::uint32_t dim = 0;

  // Parameters.
  std::uint32_t block = 0;  ///< sign: coordinates per scale; 0 means one scale for all d.
  std::uint32_t levels = 0; ///< qsgd: s, the number of nonzero quantisation levels.
  bool shared_seed = false; ///< randomk: indices come from `seed`, not from `indices`.
  std::uint64_t seed = 0;   ///< randomk with shared_seed: seeds the index draw.
  std::uint32_t k = 0;      ///< topk, randomk: number of kept coordinates.
  std::string spec;         ///< custom: the spec of the registered operator ("mine:k=3").

  // Payload.
  std::vector<float> values;
  std::vector<std::uint32_t> indices;
  std::vector<std::uint16_t> halves;
  std::vector<std::uint64_t> bits;
  std::vector<std::uint8_t> payload; ///< custom: the operator's own bytes, opaque to dsq.

  std::size_t dimension() const noexcept { return dim; }

  friend bool operator==(const compressed_message&, const compressed_message&) = default;
};

/// Makes `m` equal to a default compressed_message but keeps the capacity of its payload
/// vectors, so that a message compressed into again and again allocates only when it grows.
inline void clear_keeping_capacity(compressed_message& m) noexcept {
  m.op = operator_id::identity;
  m.dim = 0;
  m.block = 0;
  m.levels = 0;
  m.shared_seed = false;
  m.seed = 0;
  m.k = 0;
  m.spec.clear();
  m.values.clear();
  m.indices.clear();
  m.halves.clear();
  m.bits.clear();
  m.payload.clear();
}

} // namespace dsq
