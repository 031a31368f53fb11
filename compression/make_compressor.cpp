#include "compression/make_compressor.hpp"

#include "base/keyed_spec.hpp"
#include "compression/custom.hpp"
#include "compression/fp16.hpp"
#include "compression/identity.hpp"
#include "compression/operator_registry.hpp"
#include "compression/payload_layout.hpp"
#include "compression/qsgd.hpp"
#include "compression/randomk.hpp"
#include "compression/sign.hpp"
#include "compression/topk.hpp"
#include <dsq/spec_error.hpp>

#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace dsq {

namespace {

constexpr std::string_view known_names = "identity, fp16, sign, topk, randomk, qsgd";

[[noreturn]] void fail(const keyed_spec& spec, const std::string& problem) {
  throw spec_error(spec.error_message(problem));
}

std::uint32_t whole_number(const keyed_spec& spec, std::string_view key, std::uint64_t value,
                           std::uint32_t min, std::uint32_t max) {
  if (value < min || value > max)
    fail(spec, fmt::format("parameter '{}' of '{}' must be a whole number in [{}, {}], got '{}'",
                           key, spec.name(), min, max, *spec.take(key)));
  return static_cast<std::uint32_t>(value);
}

bool flag(const keyed_spec& spec, std::string_view key) {
  const auto text = spec.take(key);
  if (!text)
    return false;
  if (*text == "1" || *text == "true")
    return true;
  if (*text == "0" || *text == "false")
    return false;
  fail(spec,
       fmt::format("parameter '{}' of '{}' must be 0 or 1, got '{}'", key, spec.name(), *text));
}

// k < 1 is a fraction of d, k >= 1 a count.
sparsity k_of(const keyed_spec& spec) {
  const std::string text = spec.require("k");
  const double value = *spec.take_double("k");
  if (value <= 0)
    fail(spec, fmt::format("parameter 'k' of '{}' must be positive, got '{}'", spec.name(), text));
  if (value < 1)
    return sparsity::fraction(value);
  if (value != std::floor(value) || value > std::numeric_limits<std::uint32_t>::max())
    fail(spec, fmt::format("parameter 'k' of '{}' must be a fraction below 1 or a whole count, got "
                           "'{}'",
                           spec.name(), text));
  return sparsity::count(static_cast<std::uint32_t>(value));
}

// One spelling per spec ("mine: k=3" and "mine:k=3" are one operator): the spec text is what
// the messages carry and what the receiver's registry and the server's push check compare.
std::string canonical_text(const keyed_spec& spec) {
  std::string text = spec.name();
  const char* separator = ":";
  for (const auto& key : spec.keys()) {
    text += fmt::format("{}{}={}", separator, key, *spec.take(key));
    separator = ",";
  }
  return text;
}

std::unique_ptr<compressor> make_registered(const keyed_spec& spec) {
  std::string text = canonical_text(spec);
  if (text.size() > max_operator_spec_bytes)
    fail(spec, fmt::format("longer than {} characters (it travels in every message)",
                           max_operator_spec_bytes));
  auto op = find_operator(text);
  if (!op) // unregistered between the caller's check and now: registrations are never undone
    fail(spec, fmt::format("operator '{}' is not registered", spec.name()));
  return std::make_unique<custom_compressor>(std::move(text), std::move(op));
}

std::string known_operators() {
  const auto registered = registered_operator_names();
  if (registered.empty())
    return std::string{known_names};
  return fmt::format("{}; registered: {}", known_names, fmt::join(registered, ", "));
}

} // namespace

std::unique_ptr<compressor> make_compressor(std::string_view text) {
  const keyed_spec spec{text, "compressor"};
  const std::string& name = spec.name();
  if (name == "identity") {
    spec.reject_unknown({});
    return std::make_unique<identity_compressor>();
  }
  if (name == "fp16") {
    spec.reject_unknown({});
    return std::make_unique<fp16_compressor>();
  }
  if (name == "sign") {
    spec.reject_unknown({"block"});
    const auto block = spec.take_unsigned("block");
    return std::make_unique<sign_compressor>(
        block ? whole_number(spec, "block", *block, 1, std::numeric_limits<std::uint32_t>::max())
              : 0);
  }
  if (name == "topk") {
    spec.reject_unknown({"k"});
    return std::make_unique<topk_compressor>(k_of(spec));
  }
  if (name == "randomk") {
    spec.reject_unknown({"k", "unbiased", "shared_seed"});
    const sparsity k = k_of(spec);
    const bool unbiased = flag(spec, "unbiased");
    const bool shared_seed = flag(spec, "shared_seed");
    return std::make_unique<randomk_compressor>(k, unbiased, shared_seed);
  }
  if (name == "qsgd") {
    spec.reject_unknown({"s"});
    spec.require("s");
    return std::make_unique<qsgd_compressor>(
        whole_number(spec, "s", *spec.take_unsigned("s"), 1, qsgd_max_levels));
  }
  if (is_registered_operator(name))
    return make_registered(spec);
  fail(spec, fmt::format("unknown compressor '{}' (known: {})", name, known_operators()));
}

} // namespace dsq
