#include "base/kind_tally.hpp"

namespace dsq {

namespace {

bool power_of_ten(std::uint64_t n) {
  while (n >= 10 && n % 10 == 0)
    n /= 10;
  return n == 1;
}

} // namespace

std::optional<std::string> kind_tally::count(const std::string& kind, const std::string& what) {
  ++total_;
  std::string key = kind;
  if (counts_.count(key) == 0 && counts_.size() >= max_kinds)
    key = "other";
  const auto n = ++counts_[key];
  if (n == 1)
    return "ignored " + what + " (" + key + "); further ones of this kind are counted";
  if (power_of_ten(n))
    return "ignored " + std::to_string(n) + " " + what + "s (" + key + ") so far";
  return std::nullopt;
}

std::uint64_t kind_tally::of(const std::string& kind) const {
  auto it = counts_.find(kind);
  return it == counts_.end() ? 0 : it->second;
}

} // namespace dsq
