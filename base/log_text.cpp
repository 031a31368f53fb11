#include "base/log_text.hpp"

namespace dsq {

std::string log_safe(std::string_view text, std::size_t max) {
  const auto kept = text.substr(0, max);
  std::string out;
  out.reserve(kept.size() + 32);
  for (char c : kept) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (text.size() > max)
    out += "... (" + std::to_string(text.size()) + " bytes, cut)";
  return out;
}

} // namespace dsq
