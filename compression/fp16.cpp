#include "compression/fp16.hpp"

#include "compression/detail/kernels.hpp"

namespace dsq {

compressed_message fp16_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  compress_into(v, rng, m);
  return m;
}

void fp16_compressor::compress_into(std::span<const float> v, rng_engine&,
                                    compressed_message& out) const {
  const auto dim = detail::checked_dimension(v.size());
  clear_keeping_capacity(out);
  out.op = operator_id::fp16;
  out.dim = dim;
  // The kernel writes every half: growing fills with zeros once, reuse writes nothing twice.
  out.halves.resize(v.size());
  detail::active_kernels().fp16_encode(v.data(), out.halves.data(), v.size());
}

void detail::decode_fp16(const compressed_message& m, std::span<float> out, write_mode mode) {
  active_kernels().fp16_decode(m.halves.data(), out.data(), out.size(), mode);
}

} // namespace dsq
