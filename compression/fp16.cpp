#include "compression/fp16.hpp"

#include "compression/detail/kernels.hpp"

namespace dsq {

compressed_message fp16_compressor::compress(std::span<const float> v, rng_engine&) const {
  compressed_message m;
  m.op = operator_id::fp16;
  m.dim = detail::checked_dimension(v.size());
  m.halves.resize(v.size());
  detail::active_kernels().fp16_encode(v.data(), m.halves.data(), v.size());
  return m;
}

void detail::decode_fp16(const compressed_message& m, std::span<float> out, write_mode mode) {
  active_kernels().fp16_decode(m.halves.data(), out.data(), out.size(), mode);
}

} // namespace dsq
