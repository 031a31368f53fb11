#pragma once

#include "base/simd/simd_level.hpp"

#include <stdexcept>

namespace dsq {

/// A forced SIMD level that cannot be used: unknown, or beyond what the machine supports.
/// what() is one line that names the level, what the machine has and the fix.
class simd_level_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The level to run at on a machine that supports `machine`: the best of them, or `forced`
/// (DSQ_SIMD's value; null or empty means not forced). Throws simd_level_error if `forced` is no
/// level's name or names one the machine does not support.
simd_level choose_simd_level(simd_level_set machine, const char* forced);

/// The level this process runs its kernels at: on first use, choose_simd_level() for this
/// machine and the environment variable DSQ_SIMD; then whatever force_simd_level() set.
/// Throws simd_level_error (on every call) while DSQ_SIMD is refused: call it at start-up so
/// that the refusal is the program's first and only word.
simd_level active_simd_level();

/// Runs this process's kernels at `level` from now on, for benchmarks and tests that compare
/// levels. Throws simd_level_error if the machine does not support it. Not for use while other
/// threads run kernels.
void force_simd_level(simd_level level);

} // namespace dsq
