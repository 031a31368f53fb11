#pragma once

#include "base/random.hpp"

#include <cstdint>
#include <vector>

namespace dsq {

/// k distinct indices drawn uniformly from [0, d), k <= d, returned in increasing order.
///
/// Robert Floyd's algorithm: k draws however close k is to d, plus a bitmap of d bits. The
/// draws depend only on the engine's state, so a decoder holding the encoder's seed regenerates
/// the same indices on any platform.
std::vector<std::uint32_t> sample_indices(rng_engine& rng, std::uint32_t k, std::uint32_t d);

} // namespace dsq
