#include "compression/qsgd.hpp"

#include "compression/bit_stream.hpp"
#include "compression/detail/write_mode.hpp"
#include "compression/payload_layout.hpp"

#include <cmath>
#include <stdexcept>

namespace dsq {

qsgd_compressor::qsgd_compressor(std::uint32_t levels) : levels_(levels) {
  if (levels < 1 || levels > qsgd_max_levels)
    throw std::invalid_argument("qsgd: levels must be in [1, 65535]");
}

compressed_message qsgd_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  m.op = operator_id::qsgd;
  m.dim = detail::checked_dimension(v.size());
  m.levels = levels_;
  double squares = 0.0;
  for (const float x : v)
    squares += double(x) * double(x);
  const auto norm = static_cast<float>(std::sqrt(squares));
  m.values = {norm};

  const unsigned level_bits = qsgd_bits_per_coordinate(levels_) - 1;
  m.bits.assign((std::uint64_t{m.dim} * (level_bits + 1) + 63) / 64, 0);
  if (!(norm > 0.0f))
    return m; // v = 0 (every level 0), or a NaN norm (nothing meaningful to send)

  bit_writer writer{m.bits};
  const float s = static_cast<float>(levels_);
  const float levels_per_unit = s / norm;
  // One engine call yields two 24-bit uniforms; 24 bits is all a float in [0, 1) can resolve.
  std::uint64_t random_bits = 0;
  bool have_spare = false;
  for (const float x : v) {
    float uniform;
    if (have_spare) {
      uniform = static_cast<float>(random_bits & 0xffffffu) * 0x1p-24f;
    } else {
      random_bits = rng();
      uniform = static_cast<float>(random_bits >> 40) * 0x1p-24f;
    }
    have_spare = !have_spare;

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
    writer.put(level | (negative << level_bits), level_bits + 1);
  }
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
