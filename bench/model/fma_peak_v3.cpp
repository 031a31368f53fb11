// fma_chains on 256-bit vectors; this file alone is compiled for AVX2 and FMA
// (bench/model/CMakeLists.txt), and runs only where the machine has them.

#include "fma_chains.hpp"

#include <immintrin.h>

namespace dsq::bench {

namespace {

struct avx2_ops {
  using vec = __m256;
  static vec fmadd(vec x, vec a, vec b) { return _mm256_fmadd_ps(x, a, b); }
};

} // namespace

float avx2_loop(long n) {
  return fma_chains<avx2_ops>(n);
}

} // namespace dsq::bench
