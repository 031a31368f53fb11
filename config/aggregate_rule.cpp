#include "config/aggregate_rule.hpp"

#include <charconv>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace dsq {

aggregate_rule parse_aggregate_rule(const std::string& spec) {
  if (spec == "mean")
    return {};
  if (spec == "median")
    return {aggregate_kind::median, 0};
  for (auto [prefix, kind] :
       {std::pair{std::string_view{"trimmed-mean:f="}, aggregate_kind::trimmed_mean},
        std::pair{std::string_view{"krum:f="}, aggregate_kind::krum}}) {
    std::string_view s{spec};
    if (s.substr(0, prefix.size()) != prefix)
      continue;
    s.remove_prefix(prefix.size());
    std::size_t f = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), f);
    if (ec == std::errc{} && end == s.data() + s.size() && !s.empty() && f >= 1 && f <= 1000000)
      return {kind, f};
    throw std::invalid_argument(std::string{prefix} + "F needs a whole number 1 <= F <= 1000000");
  }
  throw std::invalid_argument("expected mean, median, trimmed-mean:f=F or krum:f=F");
}

std::string to_string(const aggregate_rule& rule) {
  switch (rule.kind) {
  case aggregate_kind::median:
    return "median";
  case aggregate_kind::trimmed_mean:
    return "trimmed-mean:f=" + std::to_string(rule.trim);
  case aggregate_kind::krum:
    return "krum:f=" + std::to_string(rule.trim);
  case aggregate_kind::mean:
    break;
  }
  return "mean";
}

std::size_t fewest_pushes(const aggregate_rule& rule) {
  switch (rule.kind) {
  case aggregate_kind::trimmed_mean:
    return 2 * rule.trim + 1;
  case aggregate_kind::krum:
    return 2 * rule.trim + 3;
  default:
    return 1;
  }
}

} // namespace dsq
