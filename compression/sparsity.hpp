#pragma once

#include <cstdint>
#include <string>

namespace dsq {

/// How many coordinates a sparsifier keeps: a fraction of d (0 < k < 1) or a count (k >= 1).
///
/// A fraction resolves per call, so one compressor serves vectors of any dimension.
class sparsity {
public:
  static sparsity fraction(double value) noexcept { return sparsity{value, true}; }
  static sparsity count(std::uint32_t value) noexcept { return sparsity{double(value), false}; }

  /// The number of coordinates kept out of d: a fraction is rounded to nearest and kept at
  /// least 1 (when d > 0); a count is capped at d.
  std::uint32_t resolve(std::uint32_t d) const noexcept;

  bool is_fraction() const noexcept { return is_fraction_; }
  double value() const noexcept { return value_; }

  /// As written in a spec: "0.01" or "1000".
  std::string to_string() const;

private:
  sparsity(double value, bool is_fraction) noexcept : value_(value), is_fraction_(is_fraction) {}

  double value_;
  bool is_fraction_;
};

} // namespace dsq
