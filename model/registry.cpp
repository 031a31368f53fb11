#include "model/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>

namespace dsq {

namespace {

/// One registry of factories by name, safe to use from several threads.
template <class Factory>
class registry {
public:
  void add(std::string name, Factory factory, const char* kind,
           std::span<const std::string_view> built_in) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        }))
      throw std::invalid_argument(
          fmt::format("register_{}: name '{}' must be made of a-z, 0-9, '_' and '-'", kind, name));
    if (std::find(built_in.begin(), built_in.end(), name) != built_in.end())
      throw std::invalid_argument(
          fmt::format("register_{}: '{}' is a built-in {} name; choose another", kind, name, kind));
    if (!factory)
      throw std::invalid_argument(fmt::format("register_{}: no factory for '{}'", kind, name));
    std::lock_guard lock{mutex_};
    if (!factories_.emplace(name, std::move(factory)).second)
      throw std::invalid_argument(
          fmt::format("register_{}: '{}' is already registered", kind, name));
  }

  std::optional<Factory> find(std::string_view name) const {
    std::lock_guard lock{mutex_};
    auto it = factories_.find(std::string{name});
    if (it == factories_.end())
      return std::nullopt;
    return it->second;
  }

  std::vector<std::string> names() const {
    std::lock_guard lock{mutex_};
    std::vector<std::string> out;
    for (const auto& [name, factory] : factories_)
      out.push_back(name);
    return out; // a std::map: sorted
  }

private:
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;
};

constexpr std::array<std::string_view, 3> built_in_models{"softmax", "mlp", "cnn"};
constexpr std::array<std::string_view, 5> built_in_datasets{"auto", "mnist", "synthetic", "libsvm",
                                                            "csv"};

registry<model_factory>& models() {
  static registry<model_factory> r;
  return r;
}

registry<data_factory>& datasets() {
  static registry<data_factory> r;
  return r;
}

} // namespace

void register_model(std::string name, model_factory factory) {
  models().add(std::move(name), std::move(factory), "model", built_in_models);
}

void register_dataset(std::string name, data_factory factory) {
  datasets().add(std::move(name), std::move(factory), "dataset", built_in_datasets);
}

std::vector<std::string> registered_models() {
  return models().names();
}

std::vector<std::string> registered_datasets() {
  return datasets().names();
}

std::optional<model_factory> find_model_factory(std::string_view name) {
  return models().find(name);
}

std::optional<data_factory> find_data_factory(std::string_view name) {
  return datasets().find(name);
}

std::string registered_tail(const std::vector<std::string>& names) {
  if (names.empty())
    return {};
  return fmt::format("; registered: {}", fmt::join(names, ", "));
}

} // namespace dsq
