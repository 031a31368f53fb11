#pragma once

#include <cstdint>
#include <string_view>

#include "model/dataset.hpp"
// mnist_available(), for callers that fall back to synthetic data when MNIST is not there.
#include "model/mnist.hpp"

namespace dsq {

// Loads the data set named by a spec (see docs/model.md for the full list):
//
//   mnist                        the IDX files, found as described by mnist_search_path()
//   mnist:dir=PATH               ... in PATH; option limit=N keeps the first N training samples
//   synthetic                    Gaussian clusters, options n (train size, 20000),
//                                test (test size, n/5), d (64), classes (10), noise (1),
//                                separation (4)
//   libsvm:path=FILE             options test=FILE (else a seeded 80/20 split, fraction
//                                changeable with split=0.2), features=N
//   csv:path=FILE                label column first; options test=FILE, split=0.2,
//                                label=first|last
//
// Every kind takes normalize=none|unit|standardize (fitted on the training part). MNIST pixels
// are always scaled to [0, 1] first. `seed` drives the synthetic data and the 80/20 split; the
// result is otherwise independent of it.
//
// Throws dsq::data_error for a missing or malformed file (naming it, and the line for text
// formats), std::invalid_argument for a malformed spec (naming the spec and what is known).
train_test load_dataset(std::string_view spec, std::uint64_t seed);

/// Checks what can be checked of a data set spec without reading anything: its kind and keys
/// ("auto" passes). Throws std::invalid_argument as load_dataset() does.
void check_dataset_spec(std::string_view spec);

} // namespace dsq
