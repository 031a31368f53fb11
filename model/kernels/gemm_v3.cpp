// gemm() at v3 (AVX2, FMA): tiles of 16 x 6, two ymm registers of A times six broadcast
// entries of B per step, twelve accumulators, with fused multiply-adds (what v4 rounds too, so
// v3 and v4 agree bit for bit). Compiled for the level function by function through target
// attributes: the file builds in the baseline and runs only where the dispatcher chose v3. The
// kernels are templates in an anonymous namespace, so no copy of them compiled here can be
// kept by the linker for another caller.

#include "model/kernels/detail/gemm_driver.hpp"
#include "model/kernels/detail/gemm_levels.hpp"

#include <immintrin.h>

#define DSQ_V3 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt")))

namespace dsq::gemm_detail {

namespace {

constexpr index tile_rows = 16, tile_cols = 6;

template <int Cols, bool BInPlace>
DSQ_V3 void tile(index kc, const float* a, index a_step, const float* b, index b_step, float* c,
                 index ldc, bool overwrite) {
  __m256 lo[Cols], hi[Cols];
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j)
    lo[j] = hi[j] = _mm256_setzero_ps();
  for (index p = 0; p < kc; ++p, a += a_step, b += BInPlace ? 1 : tile_cols) {
    const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
#pragma GCC unroll 16
    for (int j = 0; j < Cols; ++j) {
      const __m256 bj = _mm256_broadcast_ss(b + (BInPlace ? j * b_step : j));
      lo[j] = _mm256_fmadd_ps(a0, bj, lo[j]);
      hi[j] = _mm256_fmadd_ps(a1, bj, hi[j]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j) {
    float* cj = c + j * ldc;
    if (!overwrite) {
      lo[j] = _mm256_add_ps(_mm256_loadu_ps(cj), lo[j]);
      hi[j] = _mm256_add_ps(_mm256_loadu_ps(cj + 8), hi[j]);
    }
    _mm256_storeu_ps(cj, lo[j]);
    _mm256_storeu_ps(cj + 8, hi[j]);
  }
}

struct micro {
  static constexpr index MR = tile_rows, NR = tile_cols, MC = 128, NC = 768;
  static constexpr tile_kernel tiles[NR] = {tile<1, false>, tile<2, false>, tile<3, false>,
                                            tile<4, false>, tile<5, false>, tile<6, false>};
  static constexpr tile_kernel tiles_b_in_place[NR] = {tile<1, true>, tile<2, true>, tile<3, true>,
                                                       tile<4, true>, tile<5, true>, tile<6, true>};
};

} // namespace

namespace v3 {

void gemm(const gemm_problem& problem) {
  blocked_gemm<micro>(problem);
}

} // namespace v3

} // namespace dsq::gemm_detail
