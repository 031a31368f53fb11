#include "model/kernels/gemm.hpp"

#include <cmath>

#include "base/simd/simd_dispatch.hpp"
#include "model/kernels/detail/gemm_levels.hpp"

namespace dsq {

void gemm(simd_level level, const gemm_problem& problem) {
  switch (level) {
  case simd_level::v2:
    return gemm_detail::v2::gemm(problem);
  case simd_level::v3:
    return gemm_detail::v3::gemm(problem);
  case simd_level::v4:
    return gemm_detail::v4::gemm(problem);
  }
}

void gemm(const gemm_problem& problem) {
  gemm(active_simd_level(), problem);
}

bool gemm_fuses(simd_level level) noexcept {
  return level != simd_level::v2;
}

void gemm_reference(const gemm_problem& p, bool fused) {
  for (std::ptrdiff_t j = 0; j < p.n; ++j)
    for (std::ptrdiff_t i = 0; i < p.m; ++i) {
      float& c = p.c[i + j * p.ldc];
      if (!p.accumulate)
        c = 0.0f;
      for (std::ptrdiff_t p0 = 0; p0 < p.k; p0 += gemm_depth_block) {
        const std::ptrdiff_t end = p0 + gemm_depth_block < p.k ? p0 + gemm_depth_block : p.k;
        float sum = 0.0f;
        for (std::ptrdiff_t q = p0; q < end; ++q) {
          const float a = p.a.data[i * p.a.row_stride + q * p.a.col_stride];
          const float b = p.b.data[q * p.b.row_stride + j * p.b.col_stride];
          sum = fused ? std::fma(a, b, sum) : sum + a * b;
        }
        c = p0 == 0 && !p.accumulate ? sum : c + sum;
      }
    }
}

} // namespace dsq
