// fma_chains on 512-bit vectors; this file alone is compiled for AVX-512F
// (bench/model/CMakeLists.txt), and runs only where the machine has it.

#include "fma_chains.hpp"

#include <immintrin.h>

namespace dsq::bench {

namespace {

struct avx512_ops {
  using vec = __m512;
  static vec fmadd(vec x, vec a, vec b) { return _mm512_fmadd_ps(x, a, b); }
};

} // namespace

float avx512_loop(long n) {
  return fma_chains<avx512_ops>(n);
}

} // namespace dsq::bench
