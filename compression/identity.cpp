#include "compression/identity.hpp"

#include "compression/detail/write_mode.hpp"

#include <algorithm>

namespace dsq {

compressed_message identity_compressor::compress(std::span<const float> v, rng_engine&) const {
  compressed_message m;
  m.op = operator_id::identity;
  m.dim = detail::checked_dimension(v.size());
  m.values.assign(v.begin(), v.end());
  return m;
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
