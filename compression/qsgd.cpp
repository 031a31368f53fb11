#include "compression/qsgd.hpp"

#include "compression/detail/kernels.hpp"
#include "compression/payload_layout.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dsq {

qsgd_compressor::qsgd_compressor(std::uint32_t levels) : levels_(levels) {
  if (levels < 1 || levels > qsgd_max_levels)
    throw std::invalid_argument("qsgd: levels must be in [1, 65535]");
}

compressed_message qsgd_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  compress_into(v, rng, m);
  return m;
}

void qsgd_compressor::compress_into(std::span<const float> v, rng_engine& rng,
                                    compressed_message& m) const {
  // Summed in double, since float would lose the small terms of a long sum.
  compress_into(v, detail::active_kernels().sum_of_squares(v.data(), v.size()), rng, m);
}

void qsgd_compressor::compress_into(std::span<const float> v, double sum_of_squares,
                                    rng_engine& rng, compressed_message& m) const {
  const auto dim = detail::checked_dimension(v.size());
  // The kernel writes every word of the stream: a kept stream of the right size is reused as it
  // is, without zeroing it first (a memset of 0.75 bytes per coordinate, a third of the encode).
  auto bits = std::move(m.bits);
  clear_keeping_capacity(m);
  m.bits = std::move(bits);
  m.op = operator_id::qsgd;
  m.dim = dim;
  m.levels = levels_;
  const detail::kernel_table& kernels = detail::active_kernels();
  const auto norm = static_cast<float>(std::sqrt(sum_of_squares));
  m.values.push_back(norm);

  const unsigned level_bits = qsgd_bits_per_coordinate(levels_) - 1;
  m.bits.resize((std::uint64_t{m.dim} * (level_bits + 1) + 63) / 64);
  if (!(norm > 0.0f)) {
    // v = 0 (every level 0), or a NaN norm (nothing meaningful to send)
    std::fill(m.bits.begin(), m.bits.end(), std::uint64_t{0});
    return;
  }
  const float s = static_cast<float>(levels_);
  kernels.qsgd_encode(v.data(), v.size(),
                      {.levels = levels_, .level_bits = level_bits, .levels_per_unit = s / norm},
                      rng, m.bits.data());
}

void detail::decode_qsgd(const compressed_message& m, std::span<float> out, write_mode mode) {
  const unsigned level_bits = qsgd_bits_per_coordinate(m.levels) - 1;
  const float unit = m.values[0] / static_cast<float>(m.levels);
  active_kernels().qsgd_decode(m.bits.data(), out.size(), level_bits, unit, out.data(), mode);
}

} // namespace dsq
