#pragma once

// The operators a program registers by name (include/dsq/operator.hpp): the names, their
// factories, and the operators built from specs, cached by spec text so that the decoder of every
// message does not build its operator anew.

#include <dsq/operator.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

/// The longest spec a custom operator may have: it travels in every message of the operator.
inline constexpr std::size_t max_operator_spec_bytes = 256;

/// True if `name` is one of the operators make_compressor builds itself.
bool is_builtin_operator(std::string_view name) noexcept;

/// True if register_operator() has made `name` known.
bool is_registered_operator(std::string_view name);

/// The registered names, sorted.
std::vector<std::string> registered_operator_names();

/// The operator that `spec` ("mine:k=3") builds, or nullptr if the spec's name is not
/// registered. Throws spec_error (an std::invalid_argument) if the factory refuses the spec or
/// leaves one of its parameters unread. Thread-safe; the result is cached by spec text (a bounded
/// number of specs: a decoder fed many different specs builds the extra ones without keeping
/// them).
std::shared_ptr<const custom_operator> find_operator(std::string_view spec);

/// find_operator(spec), but throws std::invalid_argument naming the operator, and saying that
/// every process of the run must register it, if its name is not registered here.
std::shared_ptr<const custom_operator> registered_operator(std::string_view spec);

} // namespace dsq
