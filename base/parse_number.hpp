#pragma once

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace dsq {

/// A number read from text, or why the text is not one.
template <class T>
struct parsed_number {
  std::optional<T> value; ///< empty when the text is not a T
  std::string problem;    ///< why not, to follow the quoted text: "is out of range for ..."

  /// Whether the text was a T.
  explicit operator bool() const noexcept { return value.has_value(); }
  /// The number; only when the text was one.
  const T& operator*() const { return *value; }
};

/// Words for T in messages: "a 32-bit float", "an unsigned 64-bit integer".
template <class T>
std::string number_type_name() {
  if constexpr (std::is_floating_point_v<T>)
    return "a " + std::to_string(sizeof(T) * 8) + "-bit float";
  else
    return std::string(std::is_signed_v<T> ? "a signed " : "an unsigned ") +
           std::to_string(sizeof(T) * 8) + "-bit integer";
}

/// The whole of `text` as a T (a floating-point or integer type), for every number read from a
/// spec, a data file or a command line.
///
/// Accepts what std::from_chars accepts plus a leading '+' (LIBSVM labels are "+1"); an integer
/// may also be written as a whole number in decimal or exponent form ("3.0", "1e3"). Rejects,
/// with a problem that says which: empty text, text that is no number, trailing characters,
/// values that do not fit T (a float from "1e39", an integer from "1e20" or "-1" for unsigned
/// types), infinities and NaN, and fractions for integers. Leading and trailing blanks are the
/// caller's to remove.
template <class T>
parsed_number<T> parse_number(std::string_view text) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  const auto fail = [](std::string problem) { return parsed_number<T>{std::nullopt, problem}; };
  const auto trailing = [&](const char* from, const char* to) {
    return fail("has trailing characters '" + std::string(from, to) + "'");
  };
  if (text.size() > 1 && text[0] == '+' && text[1] != '+' && text[1] != '-')
    text.remove_prefix(1);
  if (text.empty())
    return fail("is empty");
  const char* const first = text.data();
  const char* const last = first + text.size();

  if constexpr (std::is_floating_point_v<T>) {
    T value{};
    const auto [end, error] = std::from_chars(first, last, value);
    if (error == std::errc::invalid_argument)
      return fail("is not a number");
    if (error == std::errc::result_out_of_range) // too large or too small in magnitude
      return fail("is out of range for " + number_type_name<T>());
    if (end != last)
      return trailing(end, last);
    if (!std::isfinite(value))
      return fail("is not finite");
    return {value, {}};
  } else {
    T value{};
    const auto [end, error] = std::from_chars(first, last, value);
    if (error == std::errc{} && end == last)
      return {value, {}};
    if (error == std::errc::result_out_of_range)
      return fail("is out of range for " + number_type_name<T>());
    // Not plain digits: it may still be a whole number written as "3.0" or "1e3".
    double whole = 0;
    const auto [whole_end, whole_error] = std::from_chars(first, last, whole);
    if (whole_error == std::errc::invalid_argument)
      return fail("is not a number");
    if (whole_error == std::errc{} && whole_end != last)
      return trailing(whole_end, last);
    if (whole_error == std::errc{} && !std::isfinite(whole))
      return fail("is not finite");
    if (whole_error == std::errc{} && whole != std::floor(whole))
      return fail("is not a whole number");
    if (std::is_unsigned_v<T> && whole < 0)
      return fail("is negative");
    // 2^digits is exact in a double, so this bound is exact where T's maximum would round.
    const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);
    if (whole_error != std::errc{} || whole >= limit || whole < (std::is_signed_v<T> ? -limit : 0))
      return fail("is out of range for " + number_type_name<T>());
    return {static_cast<T>(whole), {}};
  }
}

} // namespace dsq
