#include "model/kernels/add_into.hpp"

namespace dsq {

namespace add_into_detail::v4 {
/// add_into with AVX-512 (add_into_v4.cpp).
void add_into(float* dst, const float* src, std::ptrdiff_t n);
} // namespace add_into_detail::v4

namespace {

// The baseline's loop, which GCC vectorises with SSE.
void add_into_baseline(float* dst, const float* src, std::ptrdiff_t n) {
  for (std::ptrdiff_t i = 0; i < n; ++i)
    dst[i] += src[i];
}

} // namespace

add_into_kernel add_into_at(simd_level level) noexcept {
  return level == simd_level::v4 ? add_into_detail::v4::add_into : add_into_baseline;
}

} // namespace dsq
