#pragma once

// Floating-point fields of messages, sent as their IEEE-754 bits. CAF 0.17 serializes a float or
// double through detail::pack754, which halves an infinity for ever (the sending thread hangs at
// full CPU: a worker whose loss overflowed never sent its push), turns NaN into 1 (a NaN loss
// reached the server as a loss of 1) and garbles subnormal numbers (a joining worker's replica
// would differ from the others'). It also makes one virtual call and a loop per float of a
// model. Wrapping a field in `exact(...)` inside an inspect overload sends the bit pattern
// instead: a float or double as an unsigned integer in CAF's byte order, a vector of floats as its
// length and then its bytes, little-endian, read in bounded chunks like
// net/protocol/bounded_bytes.hpp. Printing inspectors (to_string, logs) still see the values.

#include "net/protocol/bounded_bytes.hpp"

#include <caf/deserializer.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <caf/serializer.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace dsq {

/// A reference to a float or double field, for inspect.
template <class T>
struct exact_value {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  T& value;
};

/// A reference to a vector of floats (a model, a residual), for inspect.
struct exact_floats {
  std::vector<float>& value;
};

/// `field`, to be inspected as its bits.
inline exact_value<float> exact(float& field) {
  return {field};
}

/// `field`, to be inspected as its bits.
inline exact_value<double> exact(double& field) {
  return {field};
}

/// `field`, to be inspected as its length and little-endian bytes.
inline exact_floats exact(std::vector<float>& field) {
  return {field};
}

/// How many floats a load allocates ahead of the bytes it has read.
inline constexpr std::size_t exact_floats_chunk = 16 * 1024;

namespace detail {

/// The byte order of the wire is little-endian; a big-endian host swaps each float's bytes.
inline void to_or_from_little_endian(float* data, std::size_t n) {
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < n; ++i)
      data[i] = std::bit_cast<float>(__builtin_bswap32(std::bit_cast<std::uint32_t>(data[i])));
  }
}

} // namespace detail

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, exact_value<T>& x) {
  using bits_type = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    auto bits = std::bit_cast<bits_type>(x.value);
    return f(bits);
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    bits_type bits = 0;
    if (auto err = f(bits))
      return err;
    x.value = std::bit_cast<T>(bits);
    return caf::none;
  } else {
    return f(x.value); // printing
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exact_floats& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    auto n = x.value.size();
    if (auto err = f.begin_sequence(n))
      return err;
    if (n > 0) {
      if constexpr (std::endian::native == std::endian::little) {
        if (auto err = f.apply_raw(n * sizeof(float), x.value.data()))
          return err;
      } else {
        std::vector<float> wire = x.value;
        detail::to_or_from_little_endian(wire.data(), n);
        if (auto err = f.apply_raw(n * sizeof(float), wire.data()))
          return err;
      }
    }
    return f.end_sequence();
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    if (auto err = load_in_chunks(f, x.value, exact_floats_chunk))
      return err;
    detail::to_or_from_little_endian(x.value.data(), x.value.size());
    return caf::none;
  } else {
    return f(x.value); // printing
  }
}

// -- a vector of doubles (Krum's partial distances, protocol 10) --

/// A reference to a vector of at most `cap` doubles, for inspect: its length, then each value's
/// bits as a 64-bit word (CAF's byte order); a longer vector is refused before it is read.
struct exact_doubles {
  std::vector<double>& value;
  std::size_t cap;
};

/// `field`, to be inspected as the bits of at most `cap` doubles.
inline exact_doubles exact(std::vector<double>& field, std::size_t cap) {
  return {field, cap};
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exact_doubles& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    auto n = x.value.size();
    if (auto err = f.begin_sequence(n))
      return err;
    for (double v : x.value) {
      auto bits = std::bit_cast<std::uint64_t>(v);
      if (auto err = f(bits))
        return err;
    }
    return f.end_sequence();
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::size_t announced = 0;
    if (auto err = f.begin_sequence(announced))
      return err;
    if (announced > x.cap)
      return caf::make_error(caf::sec::invalid_argument);
    x.value.assign(announced, 0.0);
    for (auto& v : x.value) {
      std::uint64_t bits = 0;
      if (auto err = f(bits))
        return err;
      v = std::bit_cast<double>(bits);
    }
    return f.end_sequence();
  } else {
    return f(x.value); // printing
  }
}

} // namespace dsq
