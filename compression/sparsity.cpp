#include "compression/sparsity.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace dsq {

std::uint32_t sparsity::resolve(std::uint32_t d) const noexcept {
  if (d == 0)
    return 0;
  if (!is_fraction_)
    return static_cast<std::uint32_t>(std::min<double>(value_, d));
  const double kept = std::round(value_ * static_cast<double>(d));
  return static_cast<std::uint32_t>(std::clamp<double>(kept, 1.0, d));
}

std::string sparsity::to_string() const {
  // {} prints the shortest text that reads back as the same double: "0.01", not "0.010000".
  return is_fraction_ ? fmt::format("{}", value_)
                      : fmt::format("{}", static_cast<std::uint32_t>(value_));
}

} // namespace dsq
