#pragma once

// What the exact-resume tests share (test_faults_processes.cpp: one server killed and resumed;
// test_shard_checkpoints.cpp: the shards of a sharded run): reading a run's progress from its
// lines and comparing parameter vectors bit for bit.

#include "tests/support/same_bits.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>

namespace dsq::system_test {

/// The largest N of the lines "`prefix`N" in `text`, or 0.
inline std::uint64_t last_number_after(const std::string& text, const std::string& prefix) {
  std::uint64_t best = 0;
  for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    std::uint64_t n = 0;
    bool digits = false;
    for (auto i = at + prefix.size(); i < text.size() && std::isdigit(text[i]) != 0; ++i) {
      n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
      digits = true;
    }
    if (digits)
      best = std::max(best, n);
  }
  return best;
}

using dsq::testing::same_bits;

} // namespace dsq::system_test
