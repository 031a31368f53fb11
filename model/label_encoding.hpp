#pragma once

#include <cstdint>
#include <vector>

#include "model/dataset.hpp"

namespace dsq {

// Text formats store classes as arbitrary integers (-1/+1, 1..10, ...). This maps the values
// found to 0..K-1 in increasing order and sets num_classes = K. Train and test must share one
// mapping, or class 0 of one would be another class in the other: hence the two-set overload.
// Returns the original value of each class (index = new label).
std::vector<std::int32_t> encode_labels(dataset& data);
std::vector<std::int32_t> encode_labels(dataset& train, dataset& test);

} // namespace dsq
