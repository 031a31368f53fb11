// The peak loops, one per level, each compiled for its level and run only where the machine
// has it: the SSE loop here, the FMA loops (one template, fma_chains.hpp) in fma_peak_v3.cpp
// and fma_peak_v4.cpp. Twelve independent accumulators per loop hide the latency of the
// operation (4 cycles) on two pipes with room to spare.

#include "fma_peak.hpp"

#include "fma_chains.hpp"

#include <ctime>
#include <immintrin.h>

namespace dsq::bench {

namespace {

constexpr int chains = peak_chains;
constexpr long steps = 2'000'000;

// Returns a value that depends on every chain, so that no chain is optimised away.
float sse_loop(long n) {
  __m128 prod[chains], sum[chains];
  for (int i = 0; i < chains; ++i)
    prod[i] = sum[i] = _mm_set1_ps(float(i));
  const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
  for (long s = 0; s < n; ++s)
#pragma GCC unroll 16
    for (int i = 0; i < chains; ++i) {
      prod[i] = _mm_mul_ps(prod[i], a);
      sum[i] = _mm_add_ps(sum[i], b);
    }
  __m128 all = _mm_setzero_ps();
  for (int i = 0; i < chains; ++i)
    all = _mm_add_ps(all, _mm_add_ps(prod[i], sum[i]));
  return _mm_cvtss_f32(all);
}

volatile float sink;

} // namespace

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double measured_peak_flops(simd_level level, int rounds) {
  // Floating-point operations per step of the loop over all chains.
  const double per_step = level == simd_level::v2   ? chains * 2 * 4
                          : level == simd_level::v3 ? chains * 2 * 8
                                                    : chains * 2 * 16;
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    const double start = thread_cpu_seconds();
    sink = level == simd_level::v2   ? sse_loop(steps)
           : level == simd_level::v3 ? avx2_loop(steps)
                                     : avx512_loop(steps);
    const double seconds = thread_cpu_seconds() - start;
    best = seconds > 0 && per_step * steps / seconds > best ? per_step * steps / seconds : best;
  }
  return best;
}

} // namespace dsq::bench
