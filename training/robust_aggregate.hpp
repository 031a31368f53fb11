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
std::size_t krum_choice(std::size_t f, std::span<const float> rows, std::size_t n);

/// One coordinate: A of `values` (reordered in place). Exposed for tests.
float robust_value(const aggregate_rule& rule, std::span<float> values);

} // namespace dsq
