#pragma once

// A vector of 64-bit words from the network with a hard cap on its length (a batch source's
// state words: at most max_state_words). CAF 0.17 loads a vector by the length the sender
// announced; wrapping the field in `capped(field, cap)` inside an inspect overload keeps CAF's
// wire format (the length, then each word) and refuses a longer one before reading it.

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsq {

/// A reference to a vector of words of at most `cap` entries, for inspect.
struct capped_words {
  std::vector<std::uint64_t>& value;
  std::size_t cap;
};

/// `field`, to be inspected with at most `cap` words.
inline capped_words capped(std::vector<std::uint64_t>& field, std::size_t cap) {
  return {field, cap};
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, capped_words& x) {
  if constexpr (Inspector::reads_state) {
    return f(x.value); // saving, printing: CAF's own way
  } else {
    std::size_t announced = 0;
    if (auto err = f.begin_sequence(announced))
      return err;
    if (announced > x.cap)
      return caf::make_error(caf::sec::invalid_argument);
    x.value.assign(announced, 0);
    for (auto& word : x.value)
      if (auto err = f(word))
        return err;
    return f.end_sequence();
  }
}

} // namespace dsq
