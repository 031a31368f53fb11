#include "base/simd/simd_level.hpp"

namespace dsq {

const char* name(simd_level level) noexcept {
  switch (level) {
  case simd_level::v2:
    return "v2";
  case simd_level::v3:
    return "v3";
  case simd_level::v4:
    return "v4";
  }
  return "?";
}

std::optional<simd_level> parse_simd_level(std::string_view text) noexcept {
  for (const simd_level level : all_simd_levels)
    if (text == name(level))
      return level;
  return std::nullopt;
}

std::optional<simd_level> simd_level_set::best() const noexcept {
  std::optional<simd_level> found;
  for (const simd_level level : all_simd_levels)
    if (contains(level))
      found = level;
  return found;
}

std::string simd_level_set::to_string() const {
  std::string text;
  for (const simd_level level : all_simd_levels)
    if (contains(level))
      text += (text.empty() ? "" : ", ") + std::string{name(level)};
  return text.empty() ? "none" : text;
}

} // namespace dsq
