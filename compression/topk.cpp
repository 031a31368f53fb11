#include "compression/topk.hpp"

#include "compression/detail/write_mode.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <functional>
#include <vector>

namespace dsq {

namespace {

// The magnitude of a float as an integer with the same order: for non-negative floats the bit
// pattern grows with the value, so clearing the sign bit is all it takes.
inline std::uint32_t magnitude_key(float x) noexcept {
  return std::bit_cast<std::uint32_t>(x) & 0x7fffffffu;
}

constexpr int bucket_shift = 20; // 31-bit keys -> 2048 buckets of the top 11 bits
constexpr std::size_t bucket_count = std::size_t{1} << (31 - bucket_shift);

// Where the k-th largest key lies: every key above `threshold` is kept, and so are the first
// `ties` keys equal to it, counting from index 0.
struct selection {
  std::uint32_t threshold;
  std::uint32_t ties;
};

// Radix selection instead of sorting: one pass builds a histogram of the keys' top bits, which
// names the bucket holding the k-th largest key; a second pass gathers that bucket's keys, and
// nth_element finds the exact threshold among those few. Both passes stream through v once, which
// is what keeps top-k near memory speed.
selection select_threshold(std::span<const float> v, std::uint32_t k) {
  // Two interleaved histograms, so that runs of equal buckets do not serialise on one counter.
  std::vector<std::uint32_t> histogram(2 * bucket_count, 0);
  std::uint32_t* even = histogram.data();
  std::uint32_t* odd = histogram.data() + bucket_count;
  const std::size_t d = v.size();
  std::size_t j = 0;
  for (; j + 1 < d; j += 2) {
    ++even[magnitude_key(v[j]) >> bucket_shift];
    ++odd[magnitude_key(v[j + 1]) >> bucket_shift];
  }
  if (j < d)
    ++even[magnitude_key(v[j]) >> bucket_shift];

  std::size_t above = 0; // keys in buckets above the current one
  std::size_t bucket = bucket_count;
  while (bucket > 0) {
    --bucket;
    const std::size_t here = std::size_t{even[bucket]} + odd[bucket];
    if (above + here >= k)
      break;
    above += here;
  }
  const std::size_t needed = k - above; // 1 <= needed <= keys in `bucket`

  std::vector<std::uint32_t> candidates;
  candidates.reserve(std::size_t{even[bucket]} + odd[bucket]);
  for (const float x : v) {
    const std::uint32_t key = magnitude_key(x);
    if ((key >> bucket_shift) == bucket)
      candidates.push_back(key);
  }
  const auto nth = candidates.begin() + static_cast<std::ptrdiff_t>(needed - 1);
  std::nth_element(candidates.begin(), nth, candidates.end(), std::greater<>{});
  const std::uint32_t threshold = *nth;
  // Everything before nth is >= threshold; those equal to it are ties the caller may not take
  // all of, so only the strictly greater ones are certain.
  const auto greater = std::count_if(candidates.begin(), nth,
                                     [threshold](std::uint32_t key) { return key > threshold; });
  return {threshold, static_cast<std::uint32_t>(needed - static_cast<std::size_t>(greater))};
}

} // namespace

compressed_message topk_compressor::compress(std::span<const float> v, rng_engine&) const {
  compressed_message m;
  m.op = operator_id::topk;
  m.dim = detail::checked_dimension(v.size());
  m.k = k_.resolve(m.dim);
  if (m.k == 0)
    return m;
  m.indices.reserve(m.k);
  m.values.reserve(m.k);
  const auto [threshold, ties] = select_threshold(v, m.k);
  // Scanning in index order yields sorted indices and hands ties to the lowest indices.
  std::uint32_t ties_left = ties;
  for (std::uint32_t j = 0; j < m.dim; ++j) {
    const std::uint32_t key = magnitude_key(v[j]);
    if (key < threshold) [[likely]]
      continue;
    if (key == threshold) {
      if (ties_left == 0)
        continue;
      --ties_left;
    }
    m.indices.push_back(j);
    m.values.push_back(v[j]);
  }
  return m;
}

} // namespace dsq
