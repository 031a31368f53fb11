#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

// A spec string of the form `name` or `name:key=value,key=value,...`, as used on the command
// line for data sets, models and schedules. A value may itself be a comma-separated list
// (`mlp:hidden=256,128,l2=1e-4`): a piece without '=' continues the value before it.
//
// Consumers first call reject_unknown() with the options they accept, so that a typo in an
// option name is an error (before any work is done) and not a silently ignored setting.
class keyed_spec {
public:
  // Throws std::invalid_argument for an empty name, an option without a key, a repeated key
  // or a list continuation with nothing to continue. `kind` ("model", "data set", ...) is only
  // used in messages.
  keyed_spec(std::string_view text, std::string_view kind);

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }

  // Throws std::invalid_argument naming every option not in `known`, and listing `known`.
  void reject_unknown(std::initializer_list<std::string_view> known) const;

  // The raw value of `key`.
  std::optional<std::string> take(std::string_view key);
  // Parsed values; a value that is not a number of the right kind throws
  // std::invalid_argument naming the spec, the key and the value.
  std::optional<double> take_double(std::string_view key);
  std::optional<std::uint64_t> take_unsigned(std::string_view key);
  std::optional<std::vector<std::uint64_t>> take_unsigned_list(std::string_view key);

  // Builds the message of an error about this spec: "<kind> spec '<text>': <problem>".
  std::string error_message(std::string_view problem) const;

private:
  struct option {
    std::string key, value;
  };

  const option* find(std::string_view key) const;

  std::string text_, kind_, name_;
  std::vector<option> options_;
};

} // namespace dsq
