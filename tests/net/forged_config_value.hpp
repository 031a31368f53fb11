#pragma once

// A message element that CAF 0.17's own decoder cannot take: serialized under the name of CAF's
// built-in config_value (register it as "@config_value"), it carries a variant tag past the
// type's last alternative, on which the decoder throws std::runtime_error("invalid type
// found"). The fuzzer found it; fuzz_message_seeds.cpp makes it a seed, and attack_client's
// bad-variant attack sends it to a running server (net/PROTOCOL.md: a closed connection, or exit
// 6 where no screen stands in front of CAF's broker), and test_basp_screen feeds it to the
// screen.

#include <cstdint>

namespace dsq::testing {

/// Serialized under the name of CAF's config_value: one variant tag past its last alternative.
struct forged_config_value {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forged_config_value&) {
  std::uint8_t tag = 0xff;
  return f(tag);
}

} // namespace dsq::testing
