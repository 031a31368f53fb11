#include "compression/custom.hpp"

#include "compression/detail/write_mode.hpp"
#include "compression/operator_registry.hpp"

#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace dsq {

custom_compressor::custom_compressor(std::string spec, std::shared_ptr<const custom_operator> op)
    : spec_(std::move(spec)), op_(std::move(op)) {}

compressed_message custom_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  m.op = operator_id::custom;
  m.dim = detail::checked_dimension(v.size());
  m.spec = spec_;
  m.payload.assign(op_->payload_bytes(m.dim), 0);
  op_->encode(v, rng, m.payload);
  return m;
}

void detail::decode_custom(const compressed_message& m, std::span<float> out, write_mode mode) {
  const auto op = registered_operator(m.spec);
  const auto decode = [&](std::span<float> into) {
    try {
      op->decode(m.payload, into);
    } catch (const std::invalid_argument& e) {
      // The operator refused bytes that came from the network: say whose bytes they were.
      throw std::invalid_argument(
          fmt::format("decompress: operator '{}' refused its payload: {}", m.spec, e.what()));
    }
  };
  if (!mode.accumulate)
    return decode(out);
  // The operator only knows how to write C[v]; add_scaled adds it from a per-thread buffer,
  // which after the first message of a run costs no allocation.
  thread_local std::vector<float> scratch;
  scratch.resize(out.size());
  decode(scratch);
  with_writer(mode, [&](auto write) {
    for (std::size_t j = 0; j < out.size(); ++j)
      write(out[j], scratch[j]);
  });
}

} // namespace dsq
