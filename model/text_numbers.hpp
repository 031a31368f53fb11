#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace dsq::text {

// Helpers shared by the text readers (LIBSVM, CSV); not part of the public API.

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// The whole of `s` as a number; std::from_chars alone rejects the leading '+' that LIBSVM
// files commonly carry ("+1").
template <class T>
std::optional<T> parse_whole(std::string_view s) {
  if (s.size() > 1 && s.front() == '+')
    s.remove_prefix(1);
  T value{};
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc{} || ptr != end)
    return std::nullopt;
  return value;
}

// A class label: a number with an integral value that fits in 32 bits ("1", "-1", "3.0").
inline std::optional<std::int32_t> parse_class_label(std::string_view s) {
  auto value = parse_whole<double>(s);
  if (!value || !std::isfinite(*value) || std::floor(*value) != *value ||
      std::abs(*value) > std::numeric_limits<std::int32_t>::max())
    return std::nullopt;
  return static_cast<std::int32_t>(*value);
}

} // namespace dsq::text
