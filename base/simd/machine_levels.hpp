#pragma once

#include "base/simd/simd_level.hpp"

namespace dsq {

/// The levels this machine (CPU and operating system) can run, read once from cpuid and xgetbv.
/// A level counts only if every feature of it is there and the OS saves the registers it uses.
simd_level_set machine_simd_levels() noexcept;

} // namespace dsq
