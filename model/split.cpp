#include "model/split.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "model/data_rng.hpp"

namespace dsq {

train_test split_train_test(const dataset& all, double test_fraction, std::uint64_t seed) {
  if (!(test_fraction > 0 && test_fraction < 1))
    throw std::invalid_argument(
        fmt::format("split: test fraction {} is not in (0, 1)", test_fraction));
  const auto n = all.size();
  const auto test_count = static_cast<std::size_t>(std::llround(test_fraction * double(n)));
  if (test_count == 0 || test_count == n)
    throw std::invalid_argument(fmt::format(
        "split: {} samples with test fraction {} leave one part empty", n, test_fraction));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  auto rng = data_rng::for_stream(seed, 0x5b1175b1175ULL);
  seeded_shuffle(std::span<std::size_t>(order), rng);
  // Sorting each part keeps the file order, which makes a split easy to inspect.
  std::sort(order.begin(), order.begin() + std::ptrdiff_t(test_count));
  std::sort(order.begin() + std::ptrdiff_t(test_count), order.end());
  train_test out;
  out.test = subset(all, std::span(order).first(test_count));
  out.train = subset(all, std::span(order).subspan(test_count));
  return out;
}

} // namespace dsq
