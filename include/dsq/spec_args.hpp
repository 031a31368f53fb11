#pragma once

#include <dsq/spec_error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

namespace detail {
class spec_args_impl;
} // namespace detail

/// The parameters of a spec string `name:key=value,key=value,...` (a model, a data set or an
/// operator), as a registered factory reads them.
///
/// Every getter throws dsq::spec_error quoting the whole spec and naming the key and the problem
/// (a value that is not a number, a required key that is missing). A registry calls
/// reject_unread() after the factory returns, so that a parameter the factory never asked for
/// (a typo) is an error, not a silently ignored setting.
class spec_args {
public:
  /// Splits `text`; `kind` ("model", "compressor", "dataset") is only used in messages. Throws
  /// spec_error for an empty name, a parameter without '=', or a repeated key.
  spec_args(std::string_view text, std::string_view kind);
  ~spec_args();
  spec_args(spec_args&&) noexcept;
  spec_args& operator=(spec_args&&) noexcept;

  /// The part before the first ':'.
  const std::string& name() const;
  /// The whole spec as given.
  const std::string& text() const;

  /// True if `key` was given.
  bool has(std::string_view key) const;
  /// The raw value of `key`, if given.
  std::optional<std::string> text_of(std::string_view key) const;
  /// The value of `key` as a finite number, or `fallback` if it was not given.
  double number(std::string_view key, double fallback) const;
  /// The value of `key` as a finite number; throws if it was not given.
  double number(std::string_view key) const;
  /// The value of `key` as a non-negative whole number, or `fallback` if it was not given.
  std::uint64_t count(std::string_view key, std::uint64_t fallback) const;
  /// The value of `key` as a non-negative whole number; throws if it was not given.
  std::uint64_t count(std::string_view key) const;
  /// The value of `key` as a list of non-negative whole numbers ("256,128"), or `fallback`.
  std::vector<std::uint64_t> counts(std::string_view key,
                                    std::vector<std::uint64_t> fallback) const;

  /// Throws spec_error naming every given parameter that no getter above has read.
  void reject_unread() const;

  /// The message of an error about this spec: "<kind> spec '<text>': <problem>", for a
  /// factory's own checks (throw spec_error(args.error("k must be below 100"))).
  std::string error(std::string_view problem) const;

private:
  std::unique_ptr<detail::spec_args_impl> impl_;
};

} // namespace dsq
