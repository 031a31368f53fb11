#pragma once

#include "base/simd/simd_level.hpp"
#include "compression/detail/write_mode.hpp"

#include <cstddef>
#include <cstdint>

namespace dsq::detail {

/// The sign operator's inner loops (sign.cpp), one table per SIMD level like kernel_table.
///
/// Every level computes the same bits as the v2 table, the reference: the same sign words, the
/// same magnitude sums (the same order of float additions) and the same decoded floats.
/// tests/compression/test_sign_kernels.cpp checks each level against it.
struct sign_kernel_table {
  /// Writes the signs of v[0, n) into bits[0, (n + 63) / 64): bit j % 64 of word j / 64 is set
  /// when v[j] < 0 (0, -0 and NaN count as +), the unused bits of the last word zero. Adds each
  /// coordinate's magnitude into block_sums[j / block] (block > 0 when n > 0): every full word's
  /// 64 magnitudes summed in float first (pack_signs_64's order: two 4-lane sums of alternate
  /// groups of 4, then (l0 + l1) + (l2 + l3)) unless the word straddles a block boundary;
  /// those and the last partial word's are added one by one in double.
  void (*encode)(const float* v, std::size_t n, std::size_t block, std::uint64_t* bits,
                 double* block_sums);
  /// acc[j] += g[j] for j < n (one float addition each, as error feedback's v = g + δ), then
  /// encode() of the new acc, bit for bit, from the same pass.
  void (*add_encode)(float* acc, const float* g, std::size_t n, std::size_t block,
                     std::uint64_t* bits, double* block_sums);
  /// The coordinates [begin, end) of one block: x_j = ±magnitude, negative where bit j of the
  /// sign stream is set, written as `mode` says with its scale already folded into `magnitude`
  /// (out_j = x_j, out_j += x_j, or out_j = 0.0f + x_j onto zeros).
  void (*decode)(const std::uint64_t* bits, std::size_t begin, std::size_t end, float magnitude,
                 float* out, write_mode mode);
};

/// The table for `level`. The caller makes sure the machine supports it (machine_simd_levels).
const sign_kernel_table& sign_kernels_at(simd_level level) noexcept;

/// The table for active_simd_level(). Throws simd_level_error like active_simd_level().
const sign_kernel_table& active_sign_kernels();

// The tables, one per file, each compiled for its level.
extern const sign_kernel_table sign_kernels_v2;
extern const sign_kernel_table sign_kernels_v3;
extern const sign_kernel_table sign_kernels_v4;

} // namespace dsq::detail
