#pragma once

// dst += src over a run of floats, compiled for every SIMD level that pays (v4; v2 and v3 run
// the baseline's SSE loop): the CNN's col2im adds each window row of a convolution's input
// gradient back onto its maps this way. One rounding per entry at every level, so every level
// gives the same bits.

#include <cstddef>

#include "base/simd/simd_level.hpp"

namespace dsq {

/// dst[i] = dst[i] + src[i] for i < n; dst and src do not overlap.
using add_into_kernel = void (*)(float* dst, const float* src, std::ptrdiff_t n);

/// The add_into kernel of `level` (which the machine must support): call it many times
/// without choosing the level again.
add_into_kernel add_into_at(simd_level level) noexcept;

} // namespace dsq
