// libFuzzer target for the wire decoder (scripts/fuzz.sh builds and runs it).
//
// Properties checked on every input: from_bytes either throws decode_error or returns a message
// that decompresses without complaint, and that message re-encodes to the very same bytes and
// size (the format has one encoding per message, given the little-endian flag Cereal writes).
// Anything else, and every sanitizer report, is a crash. The operators of user_operators.hpp are
// registered, so that messages of registered operators (operator_id::custom) are fuzzed too:
// their decoders may also refuse a payload with std::invalid_argument, as the contract of
// include/dsq/operator.hpp allows; a built-in's may not.

#include "compression/compressor.hpp"
#include "compression/wire.hpp"
#include "user_operators.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dsq::test::register_test_operators();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A lower limit than the default keeps each run's output buffer small; the limit is not what
  // is being tested, the checks under it are.
  const dsq::decode_limits limits{.max_dimension = 1u << 20};
  dsq::compressed_message m;
  try {
    m = dsq::from_bytes({data, size}, limits);
  } catch (const dsq::decode_error&) {
    return 0;
  }
  std::vector<float> out(m.dimension());
  try {
    dsq::decompress(m, out);
    dsq::add_scaled(m, 0.5f, out);
  } catch (const std::invalid_argument&) {
    if (m.op != dsq::operator_id::custom)
      __builtin_trap();
  }
  if (dsq::wire_size(m) != size)
    __builtin_trap();
  if (data[0] == 1) { // written by a little-endian host, as to_bytes is here
    const auto again = dsq::to_bytes(m);
    if (again.size() != size || std::memcmp(again.data(), data, size) != 0)
      __builtin_trap();
  }
  return 0;
}
