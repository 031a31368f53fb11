// add_into at v4 (AVX-512): sixteen floats per add, the last run of fewer through a mask.
// Compiled for the level through a target attribute: the file builds in the baseline and runs
// only where the dispatcher chose v4.

#include <cstddef>
#include <immintrin.h>

#define DSQ_V4                                                                                     \
  __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,"     \
                        "avx512vl,avx512cd")))

namespace dsq::add_into_detail::v4 {

DSQ_V4 void add_into(float* dst, const float* src, std::ptrdiff_t n) {
  std::ptrdiff_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 rest = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(
        dst + i, rest,
        _mm512_add_ps(_mm512_maskz_loadu_ps(rest, dst + i), _mm512_maskz_loadu_ps(rest, src + i)));
  }
}

} // namespace dsq::add_into_detail::v4
