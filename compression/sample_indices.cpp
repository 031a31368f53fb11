#include "compression/sample_indices.hpp"

#include "compression/uniform_below.hpp"

#include <bit>
#include <stdexcept>

namespace dsq {

std::vector<std::uint32_t> sample_indices(rng_engine& rng, std::uint32_t k, std::uint32_t d) {
  if (k > d)
    throw std::invalid_argument("sample_indices: k exceeds d");
  std::vector<std::uint64_t> chosen((std::size_t{d} + 63) / 64, 0);
  auto test_and_set = [&chosen](std::uint32_t j) {
    std::uint64_t& word = chosen[j / 64];
    const std::uint64_t bit = std::uint64_t{1} << (j % 64);
    const bool was_set = (word & bit) != 0;
    word |= bit;
    return was_set;
  };
  // Floyd: for j = d-k .. d-1, take a uniform t in [0, j]; if t is taken already, take j (which
  // no earlier step could reach). Every k-subset comes out equally likely.
  for (std::uint32_t j = d - k; j < d; ++j) {
    if (test_and_set(uniform_below(rng, j + 1)))
      test_and_set(j);
  }
  std::vector<std::uint32_t> indices;
  indices.reserve(k);
  for (std::size_t w = 0; w < chosen.size(); ++w) {
    for (std::uint64_t word = chosen[w]; word != 0; word &= word - 1)
      indices.push_back(static_cast<std::uint32_t>(64 * w + std::countr_zero(word)));
  }
  return indices;
}

} // namespace dsq
