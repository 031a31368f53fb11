#include "training/robust_aggregate.hpp"

#include "compression/compressor.hpp"

#include <algorithm>
#include <stdexcept>

namespace dsq {

namespace {

/// The median of sorted values: the middle one, or the mean of the two middle ones. Halves are
/// taken before the sum so that two values near float's largest do not overflow.
float sorted_median(std::span<const float> sorted) {
  const auto n = sorted.size();
  if (n % 2 == 1)
    return sorted[n / 2];
  return 0.5f * sorted[n / 2 - 1] + 0.5f * sorted[n / 2];
}

} // namespace

float robust_value(const aggregate_rule& rule, std::span<float> values) {
  if (values.empty())
    throw std::invalid_argument("robust_value: no values");
  // n is the number of members (a few to a few hundred): a sort per coordinate is cheap next
  // to decoding the pushes, and it makes the result independent of the pushes' order.
  std::sort(values.begin(), values.end());
  const auto n = values.size();
  if (rule.kind == aggregate_kind::median || n <= 2 * rule.trim)
    return sorted_median(values);
  if (rule.kind != aggregate_kind::trimmed_mean)
    throw std::invalid_argument("robust_value: the mean is server_aggregate's");
  double sum = 0; // n - 2F values in increasing order, summed in double, then rounded once
  for (std::size_t i = rule.trim; i < n - rule.trim; ++i)
    sum += values[i];
  return static_cast<float>(sum / static_cast<double>(n - 2 * rule.trim));
}

void robust_combine(const aggregate_rule& rule, std::span<const compressed_message> pushes,
                    std::span<float> out, std::vector<float>& scratch) {
  if (rule.kind == aggregate_kind::mean)
    throw std::invalid_argument("robust_combine: the mean is server_aggregate's");
  if (pushes.empty())
    throw std::invalid_argument("robust_combine: no pushes to combine");
  const auto n = pushes.size(), d = out.size();
  // Decoded push i occupies [i d, (i + 1) d); each coordinate's n values are then gathered.
  scratch.resize(n * d);
  for (std::size_t i = 0; i < n; ++i)
    decompress(pushes[i], std::span<float>{scratch.data() + i * d, d});
  std::vector<float> column(n);
  for (std::size_t j = 0; j < d; ++j) {
    for (std::size_t i = 0; i < n; ++i)
      column[i] = scratch[i * d + j];
    out[j] = robust_value(rule, column);
  }
}

} // namespace dsq
