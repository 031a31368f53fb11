// fma_chains on 256-bit vectors; this file alone is compiled for AVX2 and FMA
// (bench/model/CMakeLists.txt), and runs only where the machine has them.

#include "fma_chains.hpp"

#include <immintrin.h>

namespace dsq::bench {

namespace {

struct avx2_ops {
  using vec = __m256;
  static vec set1(float x) { return _mm256_set1_ps(x); }
  static vec zero() { return _mm256_setzero_ps(); }
  static vec fmadd(vec x, vec a, vec b) { return _mm256_fmadd_ps(x, a, b); }
  static vec add(vec x, vec y) { return _mm256_add_ps(x, y); }
  static float first(vec x) { return _mm_cvtss_f32(_mm256_castps256_ps128(x)); }
};

} // namespace

float avx2_loop(long n) {
  return fma_chains<avx2_ops>(n);
}

} // namespace dsq::bench
