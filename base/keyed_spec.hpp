#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

/// A spec string of the form `name` or `name:key=value,key=value,...`, as used on the command
/// line for compressors, data sets, models and schedules. A value may itself be a
/// comma-separated list (`mlp:hidden=256,128,l2=1e-4`): a piece without '=' continues the value
/// before it.
///
/// Consumers first call reject_unknown() with the parameters they accept, so that a typo in a
/// parameter name is an error (before any work is done) and not a silently ignored setting.
/// Every error is a dsq::spec_error (an std::invalid_argument) whose message quotes the spec.
class keyed_spec {
public:
  /// Splits `text`; throws for an empty name, a parameter without a key or without '=value', a
  /// repeated key. `kind` ("model", "compressor", ...) is only used in messages.
  keyed_spec(std::string_view text, std::string_view kind);

  /// The part before the first ':'.
  const std::string& name() const { return name_; }
  /// The whole spec as given.
  const std::string& text() const { return text_; }

  /// Throws naming every parameter not in `known`, and listing `known`.
  void reject_unknown(std::initializer_list<std::string_view> known) const;

  /// The raw value of `key`, if given.
  std::optional<std::string> take(std::string_view key) const;
  /// The raw value of `key`; throws "'<name>' needs parameter '<key>'" if it is not given.
  std::string require(std::string_view key) const;
  /// The value of `key` as a finite number; throws naming the key, the value and the problem.
  std::optional<double> take_double(std::string_view key) const;
  /// The value of `key` as a non-negative integer; throws naming the key, the value and the
  /// problem.
  std::optional<std::uint64_t> take_unsigned(std::string_view key) const;
  /// The value of `key` as a list of non-negative integers ("256,128"); throws like
  /// take_unsigned().
  std::optional<std::vector<std::uint64_t>> take_unsigned_list(std::string_view key) const;

  /// The keys given, in the order given.
  std::vector<std::string> keys() const;

  /// The message of an error about this spec: "<kind> spec '<text>': <problem>".
  std::string error_message(std::string_view problem) const;

private:
  struct parameter {
    std::string key, value;
  };

  const parameter* find(std::string_view key) const;
  [[noreturn]] void fail(std::string_view problem) const;

  std::string text_, kind_, name_;
  std::vector<parameter> parameters_;
};

} // namespace dsq
