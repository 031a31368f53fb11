#pragma once

// The Byzantine-robust rules of --aggregate (ALGORITHM.md, "Robust aggregation"): the server's
// A(c⁽¹⁾..c⁽ⁿ⁾) taken coordinate by coordinate over the decoded pushes of one step, instead of
// their mean. A member pushing anything moves a coordinate's median or trimmed mean no further
// than the range of the honest members' values there (Yin et al., ICML 2018).

#include "compression/compressed_message.hpp"
#include "config/aggregate_rule.hpp"

#include <span>
#include <vector>

namespace dsq {

/// Writes A of the pushes into `out` (the model's dimension), coordinate by coordinate:
/// median: the middle value, the mean of the two middle values for an even count;
/// trimmed_mean: the mean of the values left after dropping the F largest and F smallest,
/// or the median when n <= 2F (a step that lost members to departures); krum: the decoded push
/// krum_choice picks, or the median when n < 2F + 3.
/// The result does not depend on the order of the pushes. `scratch` holds the decoded pushes
/// (n × dim floats) and is reused between calls. Throws std::invalid_argument for the mean
/// rule (server_aggregate forms it) or without pushes.
void robust_combine(const aggregate_rule& rule, std::span<const compressed_message> pushes,
                    std::span<float> out, std::vector<float>& scratch);

/// Krum's choice among the `n` rows of `rows` (n × d floats, row-major): the row whose summed
/// squared distance to its n - F - 2 nearest other rows is smallest, the first on a tie.
/// krum_choice_of(f, pairwise_squared_distances(rows, n), n), bit for bit.
std::size_t krum_choice(std::size_t f, std::span<const float> rows, std::size_t n);

/// The squared Euclidean distances between the `n` rows of `rows` (n × d floats, row-major):
/// the upper triangle, pair (i, j) with i < j at index i·n − i(i+1)/2 + (j − i − 1), each summed
/// in double over the coordinates in increasing order from 0 (a push of 1e30s must not make
/// every distance inf). A sharded run sums these partial distances of each shard's range.
std::vector<double> pairwise_squared_distances(std::span<const float> rows, std::size_t n);

/// The number of pairs i < j of n rows: n(n − 1)/2, the length of pairwise_squared_distances.
constexpr std::size_t row_pairs(std::size_t n) {
  return n < 2 ? 0 : n * (n - 1) / 2;
}

/// Krum's choice from the pairwise squared distances of n rows (`distances`, laid out as
/// pairwise_squared_distances makes them): each row's score is the sum, in increasing order,
/// of its n - F - 2 smallest distances to other rows; the lowest score wins, the first on a
/// tie. Throws std::invalid_argument if `distances` does not hold row_pairs(n) values or n = 0.
std::size_t krum_choice_of(std::size_t f, std::span<const double> distances, std::size_t n);

/// One coordinate: A of `values` (reordered in place). Exposed for tests.
float robust_value(const aggregate_rule& rule, std::span<float> values);

} // namespace dsq
