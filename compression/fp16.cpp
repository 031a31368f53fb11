#include "compression/fp16.hpp"

#include "compression/detail/write_mode.hpp"
#include "compression/half.hpp"

namespace dsq {

compressed_message fp16_compressor::compress(std::span<const float> v, rng_engine&) const {
  compressed_message m;
  m.op = operator_id::fp16;
  m.dim = detail::checked_dimension(v.size());
  m.halves.resize(v.size());
  for (std::size_t j = 0; j < v.size(); ++j)
    m.halves[j] = float_to_half(v[j]);
  return m;
}

void detail::decode_fp16(const compressed_message& m, std::span<float> out, write_mode mode) {
  with_writer(mode, [&](auto write) {
    for (std::size_t j = 0; j < out.size(); ++j)
      write(out[j], half_to_float(m.halves[j]));
  });
}

} // namespace dsq
