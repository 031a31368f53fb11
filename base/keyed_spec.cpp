#include "base/keyed_spec.hpp"

#include "base/parse_number.hpp"
#include "base/trim.hpp"
#include <dsq/spec_error.hpp>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace dsq {

keyed_spec::keyed_spec(std::string_view text, std::string_view kind) : text_(text), kind_(kind) {
  const auto colon = text.find(':');
  name_ = std::string(trim(text.substr(0, colon)));
  if (name_.empty())
    fail(fmt::format("empty {} name", kind_));
  // "name:" is the name alone.
  if (colon == std::string_view::npos || trim(text.substr(colon + 1)).empty())
    return;
  auto rest = text.substr(colon + 1);
  while (true) {
    const auto comma = rest.find(',');
    const auto piece = trim(rest.substr(0, comma));
    const auto eq = piece.find('=');
    if (eq == std::string_view::npos) {
      if (piece.empty() || parameters_.empty())
        fail(fmt::format("parameter '{}' of '{}' has no '=value'", piece, name_));
      parameters_.back().value += ',';
      parameters_.back().value += piece;
    } else {
      const auto key = trim(piece.substr(0, eq));
      if (key.empty())
        fail(fmt::format("parameter '{}' has no key", piece));
      if (find(key) != nullptr)
        fail(fmt::format("parameter '{}' given twice", key));
      parameters_.push_back({std::string(key), std::string(trim(piece.substr(eq + 1)))});
    }
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
}

const keyed_spec::parameter* keyed_spec::find(std::string_view key) const {
  for (auto& p : parameters_)
    if (p.key == key)
      return &p;
  return nullptr;
}

std::optional<std::string> keyed_spec::take(std::string_view key) const {
  const auto* p = find(key);
  if (p == nullptr)
    return std::nullopt;
  return p->value;
}

std::string keyed_spec::require(std::string_view key) const {
  auto raw = take(key);
  if (!raw)
    fail(fmt::format("'{}' needs parameter '{}'", name_, key));
  return *raw;
}

std::optional<double> keyed_spec::take_double(std::string_view key) const {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  auto value = parse_number<double>(*raw);
  if (!value)
    fail(fmt::format("value '{}' of parameter '{}' {}", *raw, key, value.problem));
  return *value;
}

std::optional<std::uint64_t> keyed_spec::take_unsigned(std::string_view key) const {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  auto value = parse_number<std::uint64_t>(*raw);
  if (!value)
    fail(fmt::format("value '{}' of parameter '{}' {}", *raw, key, value.problem));
  return *value;
}

std::optional<std::vector<std::uint64_t>>
keyed_spec::take_unsigned_list(std::string_view key) const {
  auto raw = take(key);
  if (!raw)
    return std::nullopt;
  std::vector<std::uint64_t> values;
  std::string_view rest = *raw;
  while (true) {
    const auto comma = rest.find(',');
    const auto item = trim(rest.substr(0, comma));
    auto value = parse_number<std::uint64_t>(item);
    if (!value)
      fail(fmt::format("parameter '{}' is not a list of non-negative integers: '{}' {}", key, item,
                       value.problem));
    values.push_back(*value);
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
  return values;
}

void keyed_spec::reject_unknown(std::initializer_list<std::string_view> known) const {
  std::vector<std::string> unknown;
  for (const auto& p : parameters_)
    if (std::find(known.begin(), known.end(), p.key) == known.end())
      unknown.push_back("'" + p.key + "'");
  if (unknown.empty())
    return;
  fail(fmt::format("unknown parameter{} {} for '{}' (known: {})", unknown.size() > 1 ? "s" : "",
                   fmt::join(unknown, ", "), name_,
                   known.size() == 0 ? "none" : fmt::format("{}", fmt::join(known, ", "))));
}

std::vector<std::string> keyed_spec::keys() const {
  std::vector<std::string> result;
  for (const auto& p : parameters_)
    result.push_back(p.key);
  return result;
}

std::string keyed_spec::error_message(std::string_view problem) const {
  return fmt::format("{} spec '{}': {}", kind_, text_, problem);
}

void keyed_spec::fail(std::string_view problem) const {
  throw spec_error(error_message(problem));
}

} // namespace dsq
