#include "compression/detail/kernels.hpp"
#include "compression/finite.hpp"

#include "base/simd/simd_dispatch.hpp"

namespace dsq::detail {

const kernel_table& kernels_at(simd_level level) noexcept {
  switch (level) {
  case simd_level::v2:
    return kernels_v2;
  case simd_level::v3:
    return kernels_v3;
  case simd_level::v4:
    return kernels_v4;
  }
  return kernels_v2;
}

const kernel_table& active_kernels() {
  return kernels_at(active_simd_level());
}

} // namespace dsq::detail

namespace dsq {

bool all_finite(std::span<const float> v) {
  return detail::active_kernels().all_finite(v.data(), v.size());
}

} // namespace dsq
