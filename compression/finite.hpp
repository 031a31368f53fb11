#pragma once

#include <span>

namespace dsq {

/// True if no coordinate of v is a NaN or an infinity; runs at the active SIMD level (a pass
/// over a gradient that a worker makes every step before it compresses it).
bool all_finite(std::span<const float> v);

} // namespace dsq
