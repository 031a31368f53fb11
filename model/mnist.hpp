#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "model/dataset.hpp"

namespace dsq {

// The MNIST data set: where it is looked for and how its four IDX files become a train_test.

// The directories `mnist` is looked for in, in order: $DSQ_DATA_DIR/mnist alone if DSQ_DATA_DIR
// is set (an explicit choice is never second-guessed), otherwise data/mnist relative to the
// working directory, then $DSQ_SOURCE_DIR/data/mnist if DSQ_SOURCE_DIR is set.
std::vector<std::filesystem::path> mnist_search_path();

// The first directory of mnist_search_path() that holds the four IDX files, if any.
std::optional<std::filesystem::path> find_mnist_directory();

// True if load_dataset("mnist", ...) would find its files: what a demo checks to fall back to
// synthetic data instead of failing. (It does not validate the files' contents.)
bool mnist_available();

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (or the same names with '.' before "idx") from `directory`. Pixels
// are scaled to [0, 1]. Throws dsq::data_error naming the file at fault.
train_test load_mnist(const std::filesystem::path& directory);

} // namespace dsq
