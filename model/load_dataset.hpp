#pragma once

#include <cstdint>
#include <string_view>

#include "model/data_locations.hpp"
#include "model/dataset.hpp"
// mnist_available() and mnist_not_found, for callers that fall back to synthetic data when
// MNIST is not there.
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
//                                changeable with split=0.2), features=N, zero_based=0|1|auto
//   csv:path=FILE                options test=FILE, split=0.2, label=auto|first|last|NAME,
//                                sep=auto|comma|semicolon|tab
//
// Every kind takes normalize=none|unit|standardize, fitted on the training part. The text
// formats (libsvm, csv) are standardized unless told otherwise: their features come in any
// units, and unscaled ones leave SGD stuck. MNIST pixels are always scaled to [0, 1] and
// neither MNIST nor synthetic data is normalized by default. `seed` drives the synthetic data
// and the 80/20 split; the result is otherwise independent of it. Relative paths (path=, test=,
// dir=) and MNIST are looked for as model/data_locations.hpp describes, in `where`. The
// description says what was decided: separator, label column, numbering, scaling.
//
// Throws dsq::data_error for a missing or malformed file (naming it, and the line for text
// formats), dsq::mnist_not_found (a data_error) when MNIST is in none of the places searched,
// std::invalid_argument for a malformed spec (naming the spec and what is known).
train_test load_dataset(std::string_view spec, std::uint64_t seed, const data_locations& where);

/// load_dataset() with default_data_locations(): $DSQ_DATA_DIR, no --data-dir.
train_test load_dataset(std::string_view spec, std::uint64_t seed);

/// Checks what can be checked of a data set spec without reading anything: its kind and keys
/// ("auto" passes). Throws std::invalid_argument as load_dataset() does.
void check_dataset_spec(std::string_view spec);

} // namespace dsq
