#include "compression/make_compressor.hpp"

#include "compression/fp16.hpp"
#include "compression/identity.hpp"
#include "compression/payload_layout.hpp"
#include "compression/qsgd.hpp"
#include "compression/randomk.hpp"
#include "compression/sign.hpp"
#include "compression/topk.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace dsq {

namespace {

constexpr std::string_view known_names = "identity, fp16, sign, topk, randomk, qsgd";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// The parameters of one spec, consumed one by one so that whatever is left over is reported
// as unknown.
class spec_parameters {
public:
  spec_parameters(std::string_view spec, std::string_view name, std::string_view list)
      : spec_(spec), name_(name) {
    if (trim(list).empty())
      return;
    while (true) {
      const auto comma = list.find(',');
      const std::string_view item = trim(list.substr(0, comma));
      const auto equals = item.find('=');
      if (equals == std::string_view::npos)
        fail(fmt::format("parameter '{}' of '{}' has no '=value'", item, name_));
      const std::string key{trim(item.substr(0, equals))};
      const std::string_view value = trim(item.substr(equals + 1));
      if (key.empty())
        fail(fmt::format("empty parameter name in '{}'", item));
      if (value.empty())
        fail(fmt::format("parameter '{}' of '{}' has an empty value", key, name_));
      if (!values_.emplace(key, value).second)
        fail(fmt::format("parameter '{}' given twice", key));
      if (comma == std::string_view::npos)
        break;
      list.remove_prefix(comma + 1);
    }
  }

  std::optional<std::string_view> take(const std::string& key) {
    const auto found = values_.find(key);
    if (found == values_.end())
      return std::nullopt;
    const std::string_view value = found->second;
    values_.erase(found);
    return value;
  }

  std::string_view require(const std::string& key) {
    if (auto value = take(key))
      return *value;
    fail(fmt::format("'{}' needs parameter '{}'", name_, key));
  }

  double number(const std::string& key, std::string_view text) const {
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value))
      fail(fmt::format("parameter '{}' of '{}' is not a number: '{}'", key, name_, text));
    return value;
  }

  std::uint32_t whole_number(const std::string& key, std::string_view text, std::uint32_t min,
                             std::uint32_t max) const {
    const double value = number(key, text);
    if (value != std::floor(value) || value < min || value > max)
      fail(fmt::format("parameter '{}' of '{}' must be a whole number in [{}, {}], got '{}'", key,
                       name_, min, max, text));
    return static_cast<std::uint32_t>(value);
  }

  bool flag(const std::string& key) {
    const auto text = take(key);
    if (!text)
      return false;
    if (*text == "1" || *text == "true")
      return true;
    if (*text == "0" || *text == "false")
      return false;
    fail(fmt::format("parameter '{}' of '{}' must be 0 or 1, got '{}'", key, name_, *text));
  }

  sparsity k() {
    const std::string_view text = require("k");
    const double value = number("k", text);
    if (value <= 0)
      fail(fmt::format("parameter 'k' of '{}' must be positive, got '{}'", name_, text));
    if (value < 1)
      return sparsity::fraction(value);
    if (value != std::floor(value) || value > std::numeric_limits<std::uint32_t>::max())
      fail(fmt::format("parameter 'k' of '{}' must be a fraction below 1 or a whole count, got "
                       "'{}'",
                       name_, text));
    return sparsity::count(static_cast<std::uint32_t>(value));
  }

  /// Call once every known parameter has been taken.
  void reject_leftovers() const {
    if (values_.empty())
      return;
    fail(fmt::format("unknown parameter '{}' for '{}'", values_.begin()->first, name_));
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw spec_error(fmt::format("{} in spec '{}'", problem, spec_));
  }

private:
  std::string_view spec_;
  std::string_view name_;
  std::map<std::string, std::string_view> values_;
};

} // namespace

std::unique_ptr<compressor> make_compressor(std::string_view spec) {
  const auto colon = spec.find(':');
  const std::string_view name = trim(spec.substr(0, colon));
  const std::string_view list =
      colon == std::string_view::npos ? std::string_view{} : spec.substr(colon + 1);
  if (name.empty())
    throw spec_error(
        fmt::format("empty compressor name in spec '{}' (known: {})", spec, known_names));
  spec_parameters params{spec, name, list};

  std::unique_ptr<compressor> result;
  if (name == "identity") {
    result = std::make_unique<identity_compressor>();
  } else if (name == "fp16") {
    result = std::make_unique<fp16_compressor>();
  } else if (name == "sign") {
    std::uint32_t block = 0;
    if (auto text = params.take("block"))
      block = params.whole_number("block", *text, 1, std::numeric_limits<std::uint32_t>::max());
    result = std::make_unique<sign_compressor>(block);
  } else if (name == "topk") {
    result = std::make_unique<topk_compressor>(params.k());
  } else if (name == "randomk") {
    const sparsity k = params.k();
    const bool unbiased = params.flag("unbiased");
    const bool shared_seed = params.flag("shared_seed");
    result = std::make_unique<randomk_compressor>(k, unbiased, shared_seed);
  } else if (name == "qsgd") {
    result = std::make_unique<qsgd_compressor>(
        params.whole_number("s", params.require("s"), 1, qsgd_max_levels));
  } else {
    throw spec_error(
        fmt::format("unknown compressor '{}' in spec '{}' (known: {})", name, spec, known_names));
  }
  params.reject_leftovers();
  return result;
}

} // namespace dsq
