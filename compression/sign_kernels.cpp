#include "compression/detail/sign_kernels.hpp"

#include "base/simd/simd_dispatch.hpp"

namespace dsq::detail {

const sign_kernel_table& sign_kernels_at(simd_level level) noexcept {
  switch (level) {
  case simd_level::v2:
    return sign_kernels_v2;
  case simd_level::v3:
    return sign_kernels_v3;
  case simd_level::v4:
    return sign_kernels_v4;
  }
  return sign_kernels_v2;
}

const sign_kernel_table& active_sign_kernels() {
  return sign_kernels_at(active_simd_level());
}

} // namespace dsq::detail
