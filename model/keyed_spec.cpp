#include "model/keyed_spec.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include <fmt/format.h>

namespace dsq {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

template <class T>
std::optional<T> parse_number(std::string_view s) {
  s = trim(s);
  T value{};
  const auto* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc{} || ptr != end)
    return std::nullopt;
  return value;
}

} // namespace

keyed_spec::keyed_spec(std::string_view text, std::string_view kind) : text_(text), kind_(kind) {
  const auto colon = text.find(':');
  name_ = std::string(trim(text.substr(0, colon)));
  if (name_.empty())
    throw std::invalid_argument(error_message("missing name"));
  if (colon == std::string_view::npos)
    return;
  auto rest = text.substr(colon + 1);
  while (true) {
    const auto comma = rest.find(',');
    const auto piece = trim(rest.substr(0, comma));
    const auto eq = piece.find('=');
    if (eq == std::string_view::npos) {
      if (piece.empty() || options_.empty())
        throw std::invalid_argument(
            error_message(fmt::format("expected key=value, got '{}'", piece)));
      options_.back().value += ',';
      options_.back().value += piece;
    } else {
      const auto key = trim(piece.substr(0, eq));
      if (key.empty())
        throw std::invalid_argument(error_message(fmt::format("option '{}' has no key", piece)));
      if (find(key) != nullptr)
        throw std::invalid_argument(error_message(fmt::format("option '{}' given twice", key)));
      options_.push_back({std::string(key), std::string(trim(piece.substr(eq + 1)))});
    }
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
}

const keyed_spec::option* keyed_spec::find(std::string_view key) const {
  for (auto& opt : options_)
    if (opt.key == key)
      return &opt;
  return nullptr;
}

std::optional<std::string> keyed_spec::take(std::string_view key) {
  const auto* opt = find(key);
  if (opt == nullptr)
    return std::nullopt;
  return opt->value;
}

std::optional<double> keyed_spec::take_double(std::string_view key) {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  auto value = parse_number<double>(*raw);
  if (!value)
    throw std::invalid_argument(error_message(fmt::format("{}='{}' is not a number", key, *raw)));
  return value;
}

std::optional<std::uint64_t> keyed_spec::take_unsigned(std::string_view key) {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  auto value = parse_number<std::uint64_t>(*raw);
  if (!value)
    throw std::invalid_argument(
        error_message(fmt::format("{}='{}' is not a non-negative integer", key, *raw)));
  return value;
}

std::optional<std::vector<std::uint64_t>> keyed_spec::take_unsigned_list(std::string_view key) {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  std::vector<std::uint64_t> values;
  std::string_view rest = *raw;
  while (true) {
    const auto comma = rest.find(',');
    auto value = parse_number<std::uint64_t>(rest.substr(0, comma));
    if (!value)
      throw std::invalid_argument(
          error_message(fmt::format("{}='{}' is not a list of non-negative integers", key, *raw)));
    values.push_back(*value);
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
  return values;
}

void keyed_spec::reject_unknown(std::initializer_list<std::string_view> known) const {
  std::string unknown;
  for (const auto& opt : options_)
    if (std::find(known.begin(), known.end(), opt.key) == known.end())
      unknown += (unknown.empty() ? "" : ", ") + opt.key;
  if (unknown.empty())
    return;
  std::string listed;
  for (auto k : known)
    listed += (listed.empty() ? "" : ", ") + std::string(k);
  throw std::invalid_argument(
      error_message(fmt::format("unknown option(s) {} for '{}' (known: {})", unknown, name_,
                                listed.empty() ? "none" : listed)));
}

std::string keyed_spec::error_message(std::string_view problem) const {
  return fmt::format("{} spec '{}': {}", kind_, text_, problem);
}

} // namespace dsq
