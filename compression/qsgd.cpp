#include "compression/qsgd.hpp"

#include "compression/bit_stream.hpp"
#include "compression/detail/write_mode.hpp"
#include "compression/payload_layout.hpp"

#include <cmath>
#include <stdexcept>

namespace dsq {

namespace {

// In double, since float would lose the small terms of a long sum; four independent partial
// sums, since a single chain of dependent additions would be the slowest part of the encoder.
double sum_of_squares(std::span<const float> v) {
  double partial[4] = {0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 4 <= v.size(); j += 4)
    for (int lane = 0; lane < 4; ++lane)
      partial[lane] += double(v[j + lane]) * double(v[j + lane]);
  for (; j < v.size(); ++j)
    partial[0] += double(v[j]) * double(v[j]);
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

} // namespace

qsgd_compressor::qsgd_compressor(std::uint32_t levels) : levels_(levels) {
  if (levels < 1 || levels > qsgd_max_levels)
    throw std::invalid_argument("qsgd: levels must be in [1, 65535]");
}

compressed_message qsgd_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  m.op = operator_id::qsgd;
  m.dim = detail::checked_dimension(v.size());
  m.levels = levels_;
  const auto norm = static_cast<float>(std::sqrt(sum_of_squares(v)));
  m.values = {norm};

  const unsigned level_bits = qsgd_bits_per_coordinate(levels_) - 1;
  m.bits.assign((std::uint64_t{m.dim} * (level_bits + 1) + 63) / 64, 0);
  if (!(norm > 0.0f))
    return m; // v = 0 (every level 0), or a NaN norm (nothing meaningful to send)

  bit_writer writer{m.bits};
  const float s = static_cast<float>(levels_);
  const float levels_per_unit = s / norm;
  // The field of one coordinate: its level, stochastically rounded with `uniform`, and its sign.
  auto field = [&](float x, float uniform) {
    const float scaled = std::fabs(x) * levels_per_unit;
    std::uint32_t level;
    if (!(scaled < s)) { // also catches NaN and rounding just above s
      level = levels_;
    } else {
      const float floor = std::floor(scaled);
      level = static_cast<std::uint32_t>(floor) + (uniform < scaled - floor ? 1u : 0u);
    }
    // A zero level carries no sign, so it is written as +; this keeps encoding canonical.
    const std::uint32_t negative = (x < 0.0f && level != 0) ? 1u : 0u;
    return level | (negative << level_bits);
  };
  // One engine call yields two 24-bit uniforms; 24 bits is all a float in [0, 1) can resolve.
  const unsigned width = level_bits + 1;
  std::size_t j = 0;
  for (; j + 2 <= v.size(); j += 2) {
    const std::uint64_t random_bits = rng();
    writer.put(field(v[j], static_cast<float>(random_bits >> 40) * 0x1p-24f), width);
    writer.put(field(v[j + 1], static_cast<float>(random_bits & 0xffffffu) * 0x1p-24f), width);
  }
  if (j < v.size())
    writer.put(field(v[j], static_cast<float>(rng() >> 40) * 0x1p-24f), width);
  writer.flush();
  return m;
}

void detail::decode_qsgd(const compressed_message& m, std::span<float> out, write_mode mode) {
  const unsigned level_bits = qsgd_bits_per_coordinate(m.levels) - 1;
  const float unit = m.values[0] / static_cast<float>(m.levels);
  bit_reader reader{m.bits};
  with_writer(mode, [&](auto write) {
    for (float& o : out) {
      const std::uint32_t field = reader.get(level_bits + 1);
      const float magnitude = static_cast<float>(field & ((1u << level_bits) - 1)) * unit;
      write(o, (field >> level_bits) ? -magnitude : magnitude);
    }
  });
}

} // namespace dsq
