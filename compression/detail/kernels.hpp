#pragma once

#include "base/random.hpp"
#include "base/simd/simd_level.hpp"
#include "compression/detail/write_mode.hpp"

#include <cstddef>
#include <cstdint>

namespace dsq::detail {

/// What a QSGD encoder needs besides the vector (qsgd.cpp, qsgd_compressor::compress).
struct qsgd_quantizer {
  std::uint32_t levels = 1;    ///< s
  unsigned level_bits = 1;     ///< bits of a level; a field is level_bits + 1 bits with its sign
  float levels_per_unit = 0.f; ///< s / ‖v‖₂, with ‖v‖₂ > 0
};

/// The inner loops of the operators that run at memory speed, one table per SIMD level.
///
/// Every level computes the same bits as the v2 table, which is the scalar reference: the same
/// halves, the same norm (the same order of summation), the same random draws in the same
/// order, the same packed fields and decoded floats. tests/compression/test_kernels.cpp checks
/// each level against it.
struct kernel_table {
  /// out[j] = float_to_half(in[j]) for j < n.
  void (*fp16_encode)(const float* in, std::uint16_t* out, std::size_t n);
  /// out[j] = half_to_float(in[j]), or out[j] += scale * half_to_float(in[j]), for j < n.
  void (*fp16_decode)(const std::uint16_t* in, float* out, std::size_t n, write_mode mode);
  /// Σ v[j]² in double, in 32 partial sums (lane j mod 32) added as a tree (sum_of_lanes in
  /// kernels_common.hpp); a NaN sum is the default quiet NaN.
  double (*sum_of_squares)(const float* v, std::size_t n);
  /// Writes the n QSGD fields (level, then sign) of v into `words`, least
  /// significant bit first, every word of the stream (the unused bits of the last one zero,
  /// whatever `words` held before). The uniforms come from 16 lanes seeded by 32 draws of `rng`
  /// (qsgd_lanes in kernels_common.hpp): coordinate j takes lane j mod 16.
  void (*qsgd_encode)(const float* v, std::size_t n, const qsgd_quantizer& q, rng_engine& rng,
                      std::uint64_t* words);
  /// Decodes n fields of level_bits + 1 bits: ±level · unit, written as `mode` says.
  void (*qsgd_decode)(const std::uint64_t* words, std::size_t n, unsigned level_bits, float unit,
                      float* out, write_mode mode);
  /// The largest level (the low level_bits bits of a field) among n fields of level_bits + 1
  /// bits: what from_bytes checks against s.
  std::uint32_t (*qsgd_max_level)(const std::uint64_t* words, std::size_t n, unsigned level_bits);
  /// acc[j] += g[j] for j < n (one float addition each, as error feedback's v = g + δ), then
  /// sum_of_squares of the new acc, bit for bit, from the same pass: QSGD's norm without a
  /// second read of v.
  double (*add_sum_of_squares)(float* acc, const float* g, std::size_t n);
  /// True if no v[j], j < n, is a NaN or an infinity (no_nan_or_infinity in kernels_common.hpp).
  bool (*all_finite)(const float* v, std::size_t n);
};

/// The table for `level`. The caller makes sure the machine supports it (machine_simd_levels):
/// a table above the machine's level executes instructions the machine does not have.
const kernel_table& kernels_at(simd_level level) noexcept;

/// The table for active_simd_level(). Throws simd_level_error like active_simd_level().
const kernel_table& active_kernels();

// The tables, one per file, each compiled for its level.
extern const kernel_table kernels_v2;
extern const kernel_table kernels_v3;
extern const kernel_table kernels_v4;

// The v3 kernel that the v4 table reuses where AVX-512 would not pay: QSGD's largest level is
// found one PDEP at a time.
namespace v3 {
std::uint32_t qsgd_max_level(const std::uint64_t* words, std::size_t n, unsigned level_bits);
} // namespace v3

} // namespace dsq::detail
