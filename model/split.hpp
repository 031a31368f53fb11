#pragma once

#include <cstdint>

#include "model/dataset.hpp"

namespace dsq {

// A seeded random split: round(test_fraction * N) samples, chosen by a permutation of the
// seed, form the test part and the rest the training part, each in the original order.
// Throws std::invalid_argument unless 0 < test_fraction < 1 and both parts get a sample.
train_test split_train_test(const dataset& all, double test_fraction, std::uint64_t seed);

} // namespace dsq
