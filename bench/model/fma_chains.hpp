#pragma once

// The body of the FMA peak loops (fma_peak.hpp), one template for every vector width: `Ops`
// gives the vector type (a GCC vector: broadcast, add and lane 0 are the language's) and its
// fused multiply-add. GCC does not inline intrinsics into a function that lacks their target,
// so each instantiation lives in a file compiled for its level (fma_peak_v3.cpp,
// fma_peak_v4.cpp) that includes nothing else with external linkage.

namespace dsq::bench {

/// Independent accumulators per loop: they hide the latency of the operation (4 cycles) on two
/// pipes with room to spare.
inline constexpr int peak_chains = 12;

/// `n` steps of one multiply-add on each of peak_chains accumulators; returns a value that
/// depends on every chain, so that no chain is optimised away.
template <class Ops>
float fma_chains(long n) {
  using vec = typename Ops::vec;
  vec acc[peak_chains];
  for (int i = 0; i < peak_chains; ++i)
    acc[i] = vec{} + float(i); // every lane float(i)
  const vec a = vec{} + 0.999999f, b = vec{} + 1e-7f;
  for (long s = 0; s < n; ++s)
#pragma GCC unroll 16
    for (int i = 0; i < peak_chains; ++i)
      acc[i] = Ops::fmadd(acc[i], a, b);
  vec all{};
  for (int i = 0; i < peak_chains; ++i)
    all = all + acc[i];
  return all[0];
}

/// fma_chains on 256-bit vectors (fma_peak_v3.cpp, compiled for AVX2 and FMA).
float avx2_loop(long n);
/// fma_chains on 512-bit vectors (fma_peak_v4.cpp, compiled for AVX-512F).
float avx512_loop(long n);

} // namespace dsq::bench
