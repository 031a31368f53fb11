#include "compression/operator_registry.hpp"

#include "compression/operator_id.hpp"
#include <dsq/spec_error.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>

#include <fmt/format.h>

namespace dsq {

namespace {

// A sender may put any spec of a registered name into its messages: the cache keeps the first
// ones (a run uses one or two), so that a stream of made-up specs cannot grow memory.
constexpr std::size_t max_cached_operators = 64;

// Registration happens at start-up, lookups on every decode from many threads: a shared mutex
// lets the lookups run side by side.
struct registry {
  std::shared_mutex mutex;
  std::map<std::string, operator_factory, std::less<>> factories;
  std::map<std::string, std::shared_ptr<const custom_operator>, std::less<>> built;
};

registry& the_registry() {
  static registry r;
  return r;
}

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= max_operator_spec_bytes &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

std::string_view name_of(std::string_view spec) {
  return spec.substr(0, spec.find(':'));
}

} // namespace

bool is_builtin_operator(std::string_view name) noexcept {
  for (std::uint8_t id = 0; id < static_cast<std::uint8_t>(operator_id::custom); ++id)
    if (to_string(static_cast<operator_id>(id)) == name)
      return true;
  return false;
}

void register_operator(std::string name, operator_factory factory) {
  if (!valid_name(name))
    throw std::invalid_argument(fmt::format(
        "register_operator: '{}' is not an operator name (one or more of a-z, 0-9, '_', '-')",
        name));
  if (is_builtin_operator(name))
    throw std::invalid_argument(
        fmt::format("register_operator: '{}' is a built-in operator; choose another name", name));
  if (!factory)
    throw std::invalid_argument(
        fmt::format("register_operator: the factory of '{}' is empty", name));
  auto& r = the_registry();
  std::unique_lock lock{r.mutex};
  if (r.factories.contains(name))
    throw std::invalid_argument(fmt::format(
        "register_operator: '{}' is already registered; register each name once", name));
  r.factories.emplace(std::move(name), std::move(factory));
}

bool is_registered_operator(std::string_view name) {
  auto& r = the_registry();
  std::shared_lock lock{r.mutex};
  return r.factories.find(name) != r.factories.end();
}

std::vector<std::string> registered_operator_names() {
  auto& r = the_registry();
  std::shared_lock lock{r.mutex};
  std::vector<std::string> names;
  for (const auto& entry : r.factories)
    names.push_back(entry.first);
  return names;
}

std::shared_ptr<const custom_operator> find_operator(std::string_view spec) {
  auto& r = the_registry();
  operator_factory factory;
  {
    std::shared_lock lock{r.mutex};
    if (const auto it = r.built.find(spec); it != r.built.end())
      return it->second;
    const auto it = r.factories.find(name_of(spec));
    if (it == r.factories.end())
      return nullptr;
    factory = it->second;
  }
  // The factory runs unlocked: it is the program's code and may take its time.
  const spec_args args{spec, "compressor"};
  std::shared_ptr<const custom_operator> op = factory(args);
  args.reject_unread();
  if (!op)
    throw spec_error(args.error("its factory returned no operator"));
  std::unique_lock lock{r.mutex};
  if (r.built.size() >= max_cached_operators)
    return op;
  // Another thread may have built the same spec meanwhile: everyone uses the first one.
  return r.built.try_emplace(std::string{spec}, std::move(op)).first->second;
}

std::shared_ptr<const custom_operator> registered_operator(std::string_view spec) {
  auto op = find_operator(spec);
  if (!op)
    throw std::invalid_argument(fmt::format(
        "operator '{}' (spec '{}') is not registered in this process: every process of the run "
        "(server and workers) must call dsq::register_operator(\"{}\", ...) before the run starts",
        name_of(spec), spec, name_of(spec)));
  return op;
}

} // namespace dsq
