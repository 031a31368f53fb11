#pragma once

// The single-precision matrix product of the models, compiled for every SIMD level
// (base/simd/) and run at the process's active one. Plain pointers and strides: no Eigen here,
// so that no Eigen template is ever compiled for a level above the build's baseline.
//
// Results are deterministic and machine-independent for a given level: the blocking is fixed
// (not read from the caches), there are no threads, and every entry of the product is summed
// in one order at every level: its k terms in blocks of gemm_depth_block, each block's terms
// in increasing k from zero, the block sums added to C in increasing k. Levels differ only in
// rounding: v2 multiplies and adds (two roundings), v3 and v4 use fused multiply-adds (one),
// so v3 and v4 agree bit for bit and v2 differs from them in the last bits.
// gemm_reference() is that order in plain scalar code; every level reproduces it bit for bit.

#include <cstddef>

#include "base/simd/simd_level.hpp"

namespace dsq {

/// How many terms of a dot product are summed before the sum is added to the result: part
/// of the summation order, hence the same at every level and on every machine.
inline constexpr std::ptrdiff_t gemm_depth_block = 256;

/// A matrix operand read in place: element (i, j) is data[i * row_stride + j * col_stride].
struct matrix_operand {
  const float* data;
  std::ptrdiff_t row_stride, col_stride;

  /// A column-major matrix whose columns are `ld` floats apart.
  static constexpr matrix_operand column_major(const float* data, std::ptrdiff_t ld) noexcept {
    return {data, 1, ld};
  }
  /// The transpose of a column-major matrix whose columns are `ld` floats apart.
  static constexpr matrix_operand transpose_of(const float* data, std::ptrdiff_t ld) noexcept {
    return {data, ld, 1};
  }
};

/// C = A B, or C = C + A B when `accumulate`: A is m x k, B is k x n, C is m x n column-major
/// with columns ldc floats apart (ldc >= m). C must not overlap A or B.
struct gemm_problem {
  std::ptrdiff_t m, n, k;
  matrix_operand a, b;
  float* c;
  std::ptrdiff_t ldc;
  bool accumulate;
};

/// The product at `level`, which the machine must support (choose it with active_simd_level()).
void gemm(simd_level level, const gemm_problem& problem);

/// The product at the process's active level (active_simd_level()).
void gemm(const gemm_problem& problem);

/// The summation order every level follows, in scalar code: `fused` rounds each a * b + s once
/// (std::fma; what v3 and v4 do), otherwise twice (what v2 does). Slow; for tests.
void gemm_reference(const gemm_problem& problem, bool fused);

/// True if `level`'s products round a * b + s once (fused multiply-add).
bool gemm_fuses(simd_level level) noexcept;

} // namespace dsq
