#include "compression/topk.hpp"

#include "compression/detail/write_mode.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// A coordinate that may be among the k largest, as met in index order.
struct candidate {
  std::uint32_t index;
  std::uint32_t key;
};

// The fast path for the usual case, k much smaller than d: estimate the k-th largest key from
// a strided sample, then collect every coordinate at or above a bound set a little below that
// estimate, in one vectorised pass. If the collection holds at least k coordinates it holds
// the top k, whatever the data; if the estimate was off (or the data is adversarial), it
// reports failure and the exact radix path runs instead. No randomness: the sample positions
// are fixed, so the result stays a function of v.
bool collect_candidates(std::span<const float> v, std::uint32_t k, std::vector<candidate>& out) {
  constexpr std::size_t sample_size = 8192;
  const std::size_t d = v.size();
  if (d < 4 * sample_size || k > d / 16)
    return false;
  const std::size_t stride = d / sample_size;
  std::vector<std::uint32_t> sample(sample_size);
  for (std::size_t i = 0; i < sample_size; ++i)
    sample[i] = magnitude_key(v[i * stride]);
  // Aim for about 1.25 k candidates plus three standard deviations of the sample's count.
  const double expected = double(k) * sample_size / double(d);
  const auto rank = static_cast<std::size_t>(1.25 * expected + 3 * std::sqrt(expected) + 2);
  if (rank >= sample_size)
    return false;
  std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(rank), sample.end(),
                   std::greater<>{});
  const std::uint32_t bound = sample[rank];
  if (bound == 0)
    return false; // mostly zeros: every coordinate would qualify

  const std::size_t cap = 4 * std::size_t{k} + 1024; // beyond this, sorting out beats filtering
  out.clear();
  out.reserve(2 * std::size_t{k} + 256);
  auto consider = [&](std::size_t j) {
    const std::uint32_t key = magnitude_key(v[j]);
    if (key >= bound)
      out.push_back({static_cast<std::uint32_t>(j), key});
  };
  std::size_t j = 0;
#if defined(__SSE2__)
  // Keys are below 2^31, so the signed 32-bit comparison orders them correctly.
  const __m128i magnitude_mask = _mm_set1_epi32(0x7fffffff);
  const __m128i below_bound = _mm_set1_epi32(static_cast<int>(bound - 1));
  auto hits_of = [&](std::size_t at) {
    const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v.data() + at));
    const __m128i over = _mm_cmpgt_epi32(_mm_and_si128(bits, magnitude_mask), below_bound);
    return static_cast<unsigned>(_mm_movemask_ps(_mm_castsi128_ps(over)));
  };
  for (; j + 16 <= d; j += 16) {
    const unsigned hits =
        hits_of(j) | hits_of(j + 4) << 4 | hits_of(j + 8) << 8 | hits_of(j + 12) << 12;
    if (hits == 0) [[likely]]
      continue;
    for (unsigned rest = hits; rest != 0; rest &= rest - 1)
      consider(j + static_cast<std::size_t>(std::countr_zero(rest)));
    if (out.size() > cap)
      return false;
  }
#endif
  for (; j < d; ++j)
    consider(j);
  return out.size() >= k && out.size() <= cap;
}

// Chooses the top k among candidates that are known to include them, lower index first among
// equal keys; candidates are in index order, and so is the result.
void keep_top(std::span<const float> v, const std::vector<candidate>& candidates,
              compressed_message& m) {
  std::vector<std::uint32_t> keys(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i)
    keys[i] = candidates[i].key;
  const auto nth = keys.begin() + static_cast<std::ptrdiff_t>(m.k - 1);
  std::nth_element(keys.begin(), nth, keys.end(), std::greater<>{});
  const std::uint32_t threshold = *nth;
  auto ties_left = static_cast<std::uint32_t>(
      m.k - std::count_if(keys.begin(), nth, [&](std::uint32_t key) { return key > threshold; }));
  for (const auto& c : candidates) {
    if (c.key < threshold)
      continue;
    if (c.key == threshold) {
      // Not `ties_left-- == 0`: past zero that would wrap and keep every later tie.
      if (ties_left == 0)
        continue;
      --ties_left;
    }
    m.indices.push_back(c.index);
    m.values.push_back(v[c.index]);
  }
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

  std::vector<candidate> candidates;
  if (collect_candidates(v, m.k, candidates)) {
    keep_top(v, candidates, m);
    return m;
  }

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
