#include "training/robust_aggregate.hpp"

#include "compression/compressor.hpp"

#include <algorithm>
#include <stdexcept>

namespace dsq {

namespace {

/// Up to this many pushes, the columns are sorted all at once by an odd-even transposition
/// sort over the decoded rows (n rounds of n/2 row-wide compare-exchanges, O(n² d)); beyond
/// it, one std::sort per coordinate (O(n log n · d)).
constexpr std::size_t row_sort_limit = 16;

/// Coordinates sorted together: n rows of this many floats stay in the first-level cache.
constexpr std::size_t block = 1024;

/// A of values already in increasing order: the median (the middle one, or the mean of the two
/// middle ones, halves taken first so that values near float's largest do not overflow), or
/// the mean of the n - 2F middle values summed in double in increasing order, rounded once.
float sorted_value(const aggregate_rule& rule, std::span<const float> sorted) {
  const auto n = sorted.size();
  if (rule.kind == aggregate_kind::median || n <= 2 * rule.trim) {
    if (n % 2 == 1)
      return sorted[n / 2];
    return 0.5f * sorted[n / 2 - 1] + 0.5f * sorted[n / 2];
  }
  if (rule.kind != aggregate_kind::trimmed_mean)
    throw std::invalid_argument("robust aggregation: the mean is server_aggregate's");
  double sum = 0;
  for (std::size_t i = rule.trim; i < n - rule.trim; ++i)
    sum += sorted[i];
  return static_cast<float>(sum / static_cast<double>(n - 2 * rule.trim));
}

/// Sorts every column j in [begin, end) of the n rows at `rows` (row i starts at i · stride):
/// odd-even transposition, n rounds of compare-exchanges of neighbouring rows written as min
/// and max, which compile to branch-free vector code (the signs of pushes are as good as random
/// to a branch predictor).
void sort_columns(float* rows, std::size_t n, std::size_t stride, std::size_t begin,
                  std::size_t end) {
  for (std::size_t round = 0; round < n; ++round)
    for (std::size_t i = round % 2; i + 1 < n; i += 2) {
      float* lo = rows + i * stride;
      float* hi = lo + stride;
      for (std::size_t j = begin; j < end; ++j) {
        const float a = lo[j], b = hi[j];
        lo[j] = std::min(a, b);
        hi[j] = std::max(a, b);
      }
    }
}

} // namespace

float robust_value(const aggregate_rule& rule, std::span<float> values) {
  if (values.empty())
    throw std::invalid_argument("robust_value: no values");
  std::sort(values.begin(), values.end());
  return sorted_value(rule, values);
}

std::vector<double> pairwise_squared_distances(std::span<const float> rows, std::size_t n) {
  if (n == 0 || rows.size() % n != 0)
    throw std::invalid_argument("pairwise_squared_distances: rows must hold n rows");
  const auto d = rows.size() / n;
  std::vector<double> out;
  out.reserve(row_pairs(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      double sum = 0;
      const float* a = rows.data() + i * d;
      const float* b = rows.data() + j * d;
      for (std::size_t k = 0; k < d; ++k) {
        const double x = static_cast<double>(a[k]) - static_cast<double>(b[k]);
        sum += x * x;
      }
      out.push_back(sum);
    }
  return out;
}

std::size_t krum_choice_of(std::size_t f, std::span<const double> distances, std::size_t n) {
  if (n == 0 || distances.size() != row_pairs(n))
    throw std::invalid_argument("krum_choice_of: the distances of n rows are n(n - 1)/2 values");
  // The full matrix from the upper triangle (row i's distances to the others).
  std::vector<double> dist(n * n, 0.0);
  for (std::size_t i = 0, at = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j, ++at)
      dist[i * n + j] = dist[j * n + i] = distances[at];
  const std::size_t neighbours = n > f + 2 ? n - f - 2 : 1;
  std::size_t best = 0;
  double best_score = 0;
  std::vector<double> others;
  for (std::size_t i = 0; i < n; ++i) {
    others.clear();
    for (std::size_t j = 0; j < n; ++j)
      if (j != i)
        others.push_back(dist[i * n + j]);
    const auto k = std::min(neighbours, others.size());
    std::partial_sort(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(k),
                      others.end());
    double score = 0;
    for (std::size_t j = 0; j < k; ++j)
      score += others[j];
    if (i == 0 || score < best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

std::size_t krum_choice(std::size_t f, std::span<const float> rows, std::size_t n) {
  if (n == 0 || rows.size() % n != 0)
    throw std::invalid_argument("krum_choice: rows must hold n rows");
  return krum_choice_of(f, pairwise_squared_distances(rows, n), n);
}

void robust_combine(const aggregate_rule& rule, std::span<const compressed_message> pushes,
                    std::span<float> out, std::vector<float>& scratch) {
  if (rule.kind == aggregate_kind::mean)
    throw std::invalid_argument("robust_combine: the mean is server_aggregate's");
  if (pushes.empty())
    throw std::invalid_argument("robust_combine: no pushes to combine");
  const auto n = pushes.size(), d = out.size();
  // Decoded push i occupies [i d, (i + 1) d); sorting a column sorts coordinate j's n values.
  // Sorting makes the result independent of the pushes' order.
  scratch.resize(n * d);
  for (std::size_t i = 0; i < n; ++i)
    decompress(pushes[i], std::span<float>{scratch.data() + i * d, d});
  if (rule.kind == aggregate_kind::krum) {
    if (n >= fewest_pushes(rule)) {
      const auto chosen = krum_choice(rule.trim, scratch, n);
      std::copy_n(scratch.data() + chosen * d, d, out.data());
      return;
    }
    // A step left with too few pushes for Krum (departures): their median, as trimmed-mean does.
    return robust_combine(aggregate_rule{aggregate_kind::median, 0}, pushes, out, scratch);
  }
  std::vector<float> column(n);
  for (std::size_t begin = 0; begin < d; begin += block) {
    const auto end = std::min(d, begin + block);
    if (n <= row_sort_limit)
      sort_columns(scratch.data(), n, d, begin, end);
    for (std::size_t j = begin; j < end; ++j) {
      for (std::size_t i = 0; i < n; ++i)
        column[i] = scratch[i * d + j];
      if (n > row_sort_limit)
        std::sort(column.begin(), column.end());
      out[j] = sorted_value(rule, column);
    }
  }
}

} // namespace dsq
