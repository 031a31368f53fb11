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

// In double, since float would lose the small terms of a long sum; 32 independent partial
// sums (lane j mod 32), since a single chain of dependent additions would be the slowest part
// of the encoder, added as a tree (sum_of_lanes).
double sum_of_squares(const float* v, std::size_t n) {
  double partial[norm_lane_count] = {};
  for (std::size_t j = 0; j < n; ++j)
    partial[j % norm_lane_count] += double(v[j]) * double(v[j]);
  return sum_of_lanes(partial);
}

// sum_of_squares's loop with v[j] = acc[j] + g[j] stored on the way.
double add_sum_of_squares(float* acc, const float* g, std::size_t n) {
  double partial[norm_lane_count] = {};
  for (std::size_t j = 0; j < n; ++j) {
    acc[j] += g[j];
    partial[j % norm_lane_count] += double(acc[j]) * double(acc[j]);
  }
  return sum_of_lanes(partial);
}

void qsgd_encode(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                 std::uint64_t* words) {
  bit_appender out{words};
  qsgd_lanes lanes{rng};
  qsgd_encode_lanes(v, 0, n, q, lanes, out);
  out.flush();
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

bool all_finite(const float* v, std::size_t n) {
  return no_nan_or_infinity(v, n);
}

} // namespace

const kernel_table kernels_v2 = {fp16_encode, fp16_decode,    sum_of_squares,     qsgd_encode,
                                 qsgd_decode, qsgd_max_level, add_sum_of_squares, all_finite};

} // namespace dsq::detail
