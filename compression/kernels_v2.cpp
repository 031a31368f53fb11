// The v2 kernels: the scalar reference that every other level must reproduce bit for bit, and
// what runs on a machine without AVX2. These are the operators' loops as they were before
// there were levels; their results define the wire format and the decoded values.

#include "compression/bit_stream.hpp"
#include "compression/detail/kernels.hpp"
#include "compression/detail/kernels_common.hpp"
#include "compression/half.hpp"

#include <algorithm>
#include <cmath>

namespace dsq::detail {

namespace {

void fp16_encode(const float* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j)
    out[j] = float_to_half(in[j]);
}

void fp16_decode(const std::uint16_t* in, float* out, std::size_t n, write_mode mode) {
  with_writer(mode, [&](auto write) {
    for (std::size_t j = 0; j < n; ++j)
      write(out[j], half_to_float(in[j]));
  });
}

// In double, since float would lose the small terms of a long sum; four independent partial
// sums, since a single chain of dependent additions would be the slowest part of the encoder.
double sum_of_squares(const float* v, std::size_t n) {
  double partial[4] = {0, 0, 0, 0};
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4)
    for (int lane = 0; lane < 4; ++lane)
      partial[lane] += double(v[j + lane]) * double(v[j + lane]);
  for (; j < n; ++j)
    partial[0] += double(v[j]) * double(v[j]);
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

void qsgd_encode(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                 std::uint64_t* words) {
  // The stream's length is what the caller sized; bit_writer never writes past its last field.
  bit_writer writer{std::span<std::uint64_t>{words, (n * (q.level_bits + 1) + 63) / 64}};
  const float s = static_cast<float>(q.levels);
  auto field = [&](float x, float uniform) { return qsgd_field(x, uniform, s, q); };
  // One engine call yields two 24-bit uniforms; 24 bits is all a float in [0, 1) can resolve.
  const unsigned width = q.level_bits + 1;
  std::size_t j = 0;
  for (; j + 2 <= n; j += 2) {
    const std::uint64_t random_bits = rng();
    writer.put(field(v[j], static_cast<float>(random_bits >> 40) * 0x1p-24f), width);
    writer.put(field(v[j + 1], static_cast<float>(random_bits & 0xffffffu) * 0x1p-24f), width);
  }
  if (j < n)
    writer.put(field(v[j], static_cast<float>(rng() >> 40) * 0x1p-24f), width);
  writer.flush();
}

void qsgd_decode(const std::uint64_t* words, std::size_t n, unsigned level_bits, float unit,
                 float* out, write_mode mode) {
  bit_reader reader{std::span<const std::uint64_t>{words, (n * (level_bits + 1) + 63) / 64}};
  with_writer(mode, [&](auto write) {
    for (std::size_t j = 0; j < n; ++j) {
      const std::uint32_t field = reader.get(level_bits + 1);
      const float magnitude = static_cast<float>(field & ((1u << level_bits) - 1)) * unit;
      write(out[j], (field >> level_bits) ? -magnitude : magnitude);
    }
  });
}

std::uint32_t qsgd_max_level(const std::uint64_t* words, std::size_t n, unsigned level_bits) {
  bit_reader reader{std::span<const std::uint64_t>{words, (n * (level_bits + 1) + 63) / 64}};
  const std::uint32_t level_mask = (1u << level_bits) - 1;
  std::uint32_t most = 0;
  for (std::size_t j = 0; j < n; ++j)
    most = std::max(most, static_cast<std::uint32_t>(reader.get(level_bits + 1)) & level_mask);
  return most;
}

} // namespace

const kernel_table kernels_v2 = {fp16_encode, fp16_decode, sum_of_squares,
                                 qsgd_encode, qsgd_decode, qsgd_max_level};

} // namespace dsq::detail
