#pragma once

// --aggregate: how the server combines the decoded pushes of a step before its own compression
// and residual (ALGORITHM.md, "Robust aggregation"; docs/algorithm.md). mean is Algorithm 1;
// median and trimmed-mean are the coordinate-wise rules of Yin et al. (ICML 2018); krum picks
// one whole push, the one closest to its n - F - 2 nearest others (Blanchard et al., NeurIPS
// 2017).

#include <cstddef>
#include <string>

namespace dsq {

/// Which combination A(c⁽¹⁾..c⁽ⁿ⁾) the server forms.
enum class aggregate_kind { mean, median, trimmed_mean, krum };

/// A parsed --aggregate value.
struct aggregate_rule {
  aggregate_kind kind = aggregate_kind::mean;
  /// trimmed-mean: F values dropped at each end of every coordinate; krum: F members it resists
  std::size_t trim = 0;
};

/// "mean", "median", "trimmed-mean:f=F" or "krum:f=F" (F >= 1). Throws std::invalid_argument saying
/// what was expected.
aggregate_rule parse_aggregate_rule(const std::string& spec);

/// The canonical spelling, as parse_aggregate_rule reads it back ("trimmed-mean:f=1").
std::string to_string(const aggregate_rule& rule);

/// The fewest pushes a step needs for `rule` as it is (fewer: the median is taken): 2F + 1 for
/// trimmed-mean, 2F + 3 for krum, 1 otherwise.
std::size_t fewest_pushes(const aggregate_rule& rule);
std::string to_string(const aggregate_rule& rule);

} // namespace dsq
