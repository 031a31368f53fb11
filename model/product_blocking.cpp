#include "model/product_blocking.hpp"

#include <Eigen/Core>

#include <mutex>

namespace dsq {

void pin_product_blocking() {
  static std::once_flag once;
  std::call_once(once, [] {
    const product_blocking b;
    Eigen::setCpuCacheSizes(b.l1, b.l2, b.l3);
  });
}

} // namespace dsq
