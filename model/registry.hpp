#pragma once

// The runtime's side of include/dsq/registry.hpp: finding a program's registered model or data
// set by the name of a spec. make_model() and load_training() ask these for names that are not
// built in.

#include <dsq/registry.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace dsq {

/// The factory registered under `name`, if any.
std::optional<model_factory> find_model_factory(std::string_view name);

/// The factory registered under `name`, if any.
std::optional<data_factory> find_data_factory(std::string_view name);

/// ", registered: a, b" for the names in `names`, or "" when there are none: the tail of an
/// unknown-name error.
std::string registered_tail(const std::vector<std::string>& names);

} // namespace dsq
