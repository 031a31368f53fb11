#pragma once

#include <string_view>

namespace dsq {

/// `text` without leading and trailing blanks (spaces, tabs, and the '\r' of CRLF files).
constexpr std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

} // namespace dsq
