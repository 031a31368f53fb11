// gemm() at v4 (AVX-512): tiles of 32 x 8, two zmm registers of A times eight broadcast
// entries of B per step, sixteen accumulators, with fused multiply-adds (what v3 rounds too,
// so v3 and v4 agree bit for bit). Compiled for the level function by function through target
// attributes: the file builds in the baseline and runs only where the dispatcher chose v4. The
// kernels are templates in an anonymous namespace, so no copy of them compiled here can be
// kept by the linker for another caller.

#include "model/kernels/detail/gemm_driver.hpp"
#include "model/kernels/detail/gemm_levels.hpp"

#include <immintrin.h>

#define DSQ_V4                                                                                     \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,"     \
                        "avx512vl,avx512cd")))

namespace dsq::gemm_detail {

namespace {

constexpr index tile_rows = 32, tile_cols = 8;

template <int Cols, bool BInPlace>
DSQ_V4 void tile(index kc, const float* a, index a_step, const float* b, index b_step, float* c,
                 index ldc, bool overwrite) {
  __m512 lo[Cols], hi[Cols];
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j)
    lo[j] = hi[j] = _mm512_setzero_ps();
  for (index p = 0; p < kc; ++p, a += a_step, b += BInPlace ? 1 : tile_cols) {
    const __m512 a0 = _mm512_loadu_ps(a), a1 = _mm512_loadu_ps(a + 16);
#pragma GCC unroll 16
    for (int j = 0; j < Cols; ++j) {
      const __m512 bj = _mm512_set1_ps(b[BInPlace ? j * b_step : j]);
      lo[j] = _mm512_fmadd_ps(a0, bj, lo[j]);
      hi[j] = _mm512_fmadd_ps(a1, bj, hi[j]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < Cols; ++j) {
    float* cj = c + j * ldc;
    if (!overwrite) {
      lo[j] = _mm512_add_ps(_mm512_loadu_ps(cj), lo[j]);
      hi[j] = _mm512_add_ps(_mm512_loadu_ps(cj + 16), hi[j]);
    }
    _mm512_storeu_ps(cj, lo[j]);
    _mm512_storeu_ps(cj + 16, hi[j]);
  }
}

struct micro {
  static constexpr index MR = tile_rows, NR = tile_cols, MC = 64, NC = 1024;
  static constexpr tile_kernel tiles[NR] = {tile<1, false>, tile<2, false>, tile<3, false>,
                                            tile<4, false>, tile<5, false>, tile<6, false>,
                                            tile<7, false>, tile<8, false>};
  static constexpr tile_kernel tiles_b_in_place[NR] = {tile<1, true>, tile<2, true>, tile<3, true>,
                                                       tile<4, true>, tile<5, true>, tile<6, true>,
                                                       tile<7, true>, tile<8, true>};
};

} // namespace

namespace v4 {

void gemm(const gemm_problem& problem) {
  blocked_gemm<micro>(problem);
}

} // namespace v4

} // namespace dsq::gemm_detail
