#pragma once

// Byte fields of messages that come from the network, loaded so that memory grows with the
// bytes that actually arrived. CAF 0.17 loads a std::string or std::vector<std::uint8_t> by
// resizing it to the length the sender announced, then reading: twenty bytes announcing 2^40
// make the receiver allocate a terabyte (found by tests/net/fuzz_messages.cpp). Wrapping such a
// field in `bounded(...)` inside an inspect overload keeps CAF's wire format (the length as a
// varbyte, then the raw bytes) and reads it in chunks instead.

#include <caf/error.hpp>

#include <algorithm>
#include <cstddef>

namespace dsq {

/// A reference to a contiguous byte field (std::string, std::vector<std::uint8_t>) for inspect.
template <class Bytes>
struct bounded_bytes {
  Bytes& value;
};

/// `field`, to be inspected as bounded_bytes.
template <class Bytes>
bounded_bytes<Bytes> bounded(Bytes& field) {
  return {field};
}

/// How much a load allocates ahead of the bytes it has read.
inline constexpr std::size_t bounded_bytes_chunk = 64 * 1024;

/// Loads a sequence that CAF's serializer wrote as its length and raw bytes into `out`, a vector
/// of trivially copyable values, allocating at most `chunk` values ahead of the bytes read.
template <class Inspector, class Vector>
caf::error load_in_chunks(Inspector& f, Vector& out, std::size_t chunk) {
  std::size_t announced = 0;
  if (auto err = f.begin_sequence(announced))
    return err;
  out.clear();
  while (out.size() < announced) {
    const auto done = out.size();
    const auto n = std::min(announced - done, chunk);
    out.resize(done + n);
    // Fails (end of stream) once the sender's bytes run out, long before a lie gets costly.
    if (auto err = f.apply_raw(n * sizeof(out[0]), &out[done]))
      return err;
  }
  return f.end_sequence();
}

template <class Inspector, class Bytes>
typename Inspector::result_type inspect(Inspector& f, bounded_bytes<Bytes>& x) {
  if constexpr (Inspector::reads_state)
    return f(x.value); // saving, printing: CAF's own way
  else
    return load_in_chunks(f, x.value, bounded_bytes_chunk);
}

} // namespace dsq
