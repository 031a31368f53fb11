#include "compression/payload_layout.hpp"

#include "compression/operator_registry.hpp"

#include <bit>
#include <stdexcept>
#include <string>

namespace dsq {

std::uint32_t qsgd_bits_per_coordinate(std::uint32_t levels) noexcept {
  // For s >= 1, ceil(log2(s + 1)) is the number of bits needed to write s.
  return 1 + static_cast<std::uint32_t>(std::bit_width(levels));
}

namespace {

[[noreturn]] void bad(operator_id op, const std::string& what) {
  throw std::invalid_argument(std::string{to_string(op)} + " message: " + what);
}

void require_no_block_levels_or_seed(const compressed_message& m) {
  if (m.block != 0)
    bad(m.op, "unexpected block parameter");
  if (m.levels != 0)
    bad(m.op, "unexpected levels parameter");
  if (m.shared_seed || m.seed != 0)
    bad(m.op, "unexpected seed parameter");
}

} // namespace

payload_layout layout_of(const compressed_message& m) {
  const std::uint64_t d = m.dim;
  payload_layout layout;
  if (m.op != operator_id::topk && m.op != operator_id::randomk && m.k != 0)
    bad(m.op, "unexpected k parameter");
  if (m.op != operator_id::custom && !m.spec.empty())
    bad(m.op, "unexpected operator spec");
  switch (m.op) {
  case operator_id::identity:
    require_no_block_levels_or_seed(m);
    layout.values = d;
    return layout;
  case operator_id::fp16:
    require_no_block_levels_or_seed(m);
    layout.halves = d;
    return layout;
  case operator_id::sign: {
    if (m.levels != 0 || m.shared_seed || m.seed != 0)
      bad(m.op, "unexpected levels or seed parameter");
    const std::uint64_t block = m.block == 0 ? d : m.block;
    layout.values = block == 0 ? 0 : (d + block - 1) / block;
    layout.bits = d;
    return layout;
  }
  case operator_id::topk:
    require_no_block_levels_or_seed(m);
    if (m.k > d)
      bad(m.op, "k exceeds the dimension");
    layout.values = m.k;
    layout.indices = m.k;
    return layout;
  case operator_id::randomk:
    if (m.block != 0 || m.levels != 0)
      bad(m.op, "unexpected block or levels parameter");
    if (!m.shared_seed && m.seed != 0)
      bad(m.op, "seed given without shared_seed");
    if (m.k > d)
      bad(m.op, "k exceeds the dimension");
    layout.values = m.k;
    layout.indices = m.shared_seed ? 0 : m.k;
    return layout;
  case operator_id::qsgd:
    if (m.block != 0 || m.shared_seed || m.seed != 0)
      bad(m.op, "unexpected block or seed parameter");
    if (m.levels < 1 || m.levels > qsgd_max_levels)
      bad(m.op, "levels outside [1, 65535]");
    layout.values = 1;
    layout.bits = d * qsgd_bits_per_coordinate(m.levels);
    return layout;
  case operator_id::custom:
    require_no_block_levels_or_seed(m);
    if (m.spec.empty() || m.spec.size() > max_operator_spec_bytes)
      bad(m.op, "operator spec empty or longer than " + std::to_string(max_operator_spec_bytes) +
                    " bytes");
    layout.bytes = registered_operator(m.spec)->payload_bytes(m.dim);
    return layout;
  }
  throw std::invalid_argument("unknown operator id " + std::to_string(static_cast<unsigned>(m.op)));
}

} // namespace dsq
