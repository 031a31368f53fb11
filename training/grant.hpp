#pragma once

// Permission to compute a gradient (the asynchronous variant's admission, staleness_admission.hpp).

#include <cstdint>

namespace dsq {

/// Permission for worker `worker` to compute a gradient on a model of version >= `version`.
struct grant {
  std::uint32_t worker = 0;
  std::uint64_t version = 0;
  /// Grants are numbered in the order they are issued: a worker may get two grants for the same
  /// version (its push was held, not yet applied), so the number tells a copy from a new one.
  std::uint64_t number = 0;
};

} // namespace dsq
