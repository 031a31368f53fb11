#pragma once

// Bit-for-bit equality, which is what "the same run" means here: == would call NaN unequal to
// itself and 0 equal to -0, and either would hide (or invent) a difference between two runs.

#include <cstddef>
#include <cstring>
#include <type_traits>

namespace dsq::testing {

/// Whether two numbers have the same bits.
template <class T>
requires std::is_arithmetic_v<T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

/// Whether two contiguous ranges (std::vector, std::span, Eigen vectors) of one element type have
/// the same length and the same bits.
template <class A, class B>
requires requires(const A& a, const B& b) {
  a.data();
  b.data();
  a.size();
  b.size();
}
bool same_bits(const A& a, const B& b) {
  using element = std::remove_cvref_t<decltype(*a.data())>;
  static_assert(std::is_same_v<element, std::remove_cvref_t<decltype(*b.data())>>,
                "same_bits compares ranges of one element type");
  const auto n = static_cast<std::size_t>(a.size());
  return n == static_cast<std::size_t>(b.size()) &&
         (n == 0 || std::memcmp(a.data(), b.data(), n * sizeof(element)) == 0);
}

} // namespace dsq::testing
