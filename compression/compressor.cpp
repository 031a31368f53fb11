#include "compression/compressor.hpp"

#include "compression/detail/write_mode.hpp"
#include "compression/payload_layout.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace dsq {

namespace {

// A message built by hand (not by from_bytes) may disagree with itself; checking the sizes is
// O(1) and keeps every decoder free to index its payload without further checks.
void check_decodable(const compressed_message& m, std::span<float> out) {
  if (out.size() != m.dimension())
    throw std::invalid_argument("decompress: output has " + std::to_string(out.size()) +
                                " coordinates, message has " + std::to_string(m.dimension()));
  const payload_layout layout = layout_of(m);
  if (m.values.size() != layout.values || m.indices.size() != layout.indices ||
      m.halves.size() != layout.halves || m.bits.size() != layout.bit_words() ||
      m.payload.size() != layout.bytes)
    throw std::invalid_argument(std::string{"decompress: "} + std::string{to_string(m.op)} +
                                " message payload does not match its dimension and parameters");
}

// The decoders that write onto zeros themselves (write_mode::onto_zeros), in one pass that
// does not read out. The others get out filled with zeros and accumulate: the sparse ones touch
// only k coordinates, a custom operator knows only decompress and add_scaled, and fp16's and
// QSGD's kernels (kernels_v*.cpp) take only the two other modes.
bool writes_onto_zeros(operator_id op) {
  return op == operator_id::identity || op == operator_id::sign;
}

void decode(const compressed_message& m, std::span<float> out, detail::write_mode mode) {
  check_decodable(m, out);
  if (mode.onto_zeros && !writes_onto_zeros(m.op)) {
    std::fill(out.begin(), out.end(), 0.0f);
    mode.onto_zeros = false;
  }
  switch (m.op) {
  case operator_id::identity:
    return detail::decode_identity(m, out, mode);
  case operator_id::fp16:
    return detail::decode_fp16(m, out, mode);
  case operator_id::sign:
    return detail::decode_sign(m, out, mode);
  case operator_id::topk:
  case operator_id::randomk:
    return detail::decode_sparse(m, out, mode);
  case operator_id::qsgd:
    return detail::decode_qsgd(m, out, mode);
  case operator_id::custom:
    return detail::decode_custom(m, out, mode);
  }
}

} // namespace

void decompress(const compressed_message& m, std::span<float> out) {
  decode(m, out, {.accumulate = false, .scale = 1.0f});
}

void add_scaled(const compressed_message& m, float scale, std::span<float> out) {
  decode(m, out, {.accumulate = true, .scale = scale});
}

void assign_scaled(const compressed_message& m, float scale, std::span<float> out) {
  decode(m, out, {.accumulate = true, .scale = scale, .onto_zeros = true});
}

} // namespace dsq
