#pragma once

// A vector of small structs or strings from the network with a hard cap on its length (a shard
// map holds at most max_shards entries). CAF 0.17 loads such a vector element by element, so
// memory follows the bytes that arrived, but nothing stops a sender from announcing millions of
// entries of a few bytes each; a string element is read through bounded() (bounded_bytes.hpp).
// Wrapping a field in `capped_list(field, cap)` keeps CAF's wire format (the length, then each
// element) and refuses a longer list before reading it.

#include "net/protocol/bounded_bytes.hpp"

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace dsq {

/// A reference to a vector of at most `cap` entries, for inspect.
template <class T>
struct capped_list_ref {
  std::vector<T>& value;
  std::size_t cap;
};

/// `field`, to be inspected with at most `cap` entries.
template <class T>
capped_list_ref<T> capped_list(std::vector<T>& field, std::size_t cap) {
  return {field, cap};
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, capped_list_ref<T>& x) {
  if constexpr (Inspector::reads_state) {
    return f(x.value); // saving, printing: CAF's own way
  } else {
    std::size_t announced = 0;
    if (auto err = f.begin_sequence(announced))
      return err;
    if (announced > x.cap)
      return caf::make_error(caf::sec::invalid_argument);
    x.value.assign(announced, T{});
    for (auto& entry : x.value) {
      if constexpr (std::is_same_v<T, std::string>) {
        auto b = bounded(entry);
        if (auto err = f(b))
          return err;
      } else if (auto err = f(entry)) {
        return err;
      }
    }
    return f.end_sequence();
  }
}

} // namespace dsq
