#include "compression/identity.hpp"

#include "compression/detail/write_mode.hpp"

#include <algorithm>

namespace dsq {

compressed_message identity_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  compress_into(v, rng, m);
  return m;
}

void identity_compressor::compress_into(std::span<const float> v, rng_engine&,
                                        compressed_message& out) const {
  const auto dim = detail::checked_dimension(v.size());
  clear_keeping_capacity(out);
  out.op = operator_id::identity;
  out.dim = dim;
  out.values.assign(v.begin(), v.end()); // a memcpy into the kept capacity
}

void detail::decode_identity(const compressed_message& m, std::span<float> out, write_mode mode) {
  if (!mode.accumulate) {
    std::copy(m.values.begin(), m.values.end(), out.begin());
    return;
  }
  with_writer(mode, [&](auto write) {
    for (std::size_t j = 0; j < out.size(); ++j)
      write(out[j], m.values[j]);
  });
}

} // namespace dsq
