// gemm() at v2, the build's baseline (SSE): tiles of 8 x 4, two xmm registers of A times four
// broadcast entries of B per step, eight accumulators; each step multiplies, then adds (two
// roundings: there is no fused multiply-add at this level).

#include "model/kernels/detail/gemm_driver.hpp"
#include "model/kernels/detail/gemm_levels.hpp"

#include <immintrin.h>

namespace dsq::gemm_detail {

namespace {

constexpr index tile_rows = 8, tile_cols = 4;

template <int Cols, bool BInPlace>
void tile(index kc, const float* a, index a_step, const float* b, index b_step, float* c, index ldc,
          bool overwrite) {
  __m128 lo[Cols], hi[Cols];
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j)
    lo[j] = hi[j] = _mm_setzero_ps();
  for (index p = 0; p < kc; ++p, a += a_step, b += BInPlace ? 1 : tile_cols) {
    const __m128 a0 = _mm_loadu_ps(a), a1 = _mm_loadu_ps(a + 4);
#pragma GCC unroll 16
    for (int j = 0; j < Cols; ++j) {
      const __m128 bj = _mm_set1_ps(b[BInPlace ? j * b_step : j]);
      lo[j] = _mm_add_ps(lo[j], _mm_mul_ps(a0, bj));
      hi[j] = _mm_add_ps(hi[j], _mm_mul_ps(a1, bj));
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j) {
    float* cj = c + j * ldc;
    if (!overwrite) {
      lo[j] = _mm_add_ps(_mm_loadu_ps(cj), lo[j]);
      hi[j] = _mm_add_ps(_mm_loadu_ps(cj + 4), hi[j]);
    }
    _mm_storeu_ps(cj, lo[j]);
    _mm_storeu_ps(cj + 4, hi[j]);
  }
}

struct micro {
  static constexpr index MR = tile_rows, NR = tile_cols, MC = 128, NC = 1024;
  static constexpr tile_kernel tiles[NR] = {tile<1, false>, tile<2, false>, tile<3, false>,
                                            tile<4, false>};
  static constexpr tile_kernel tiles_b_in_place[NR] = {tile<1, true>, tile<2, true>, tile<3, true>,
                                                       tile<4, true>};
};

} // namespace

namespace v2 {

void gemm(const gemm_problem& problem) {
  blocked_gemm<micro>(problem);
}

} // namespace v2

} // namespace dsq::gemm_detail
