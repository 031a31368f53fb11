#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "model/data_error.hpp"
#include "model/data_locations.hpp"
#include "model/dataset.hpp"

namespace dsq {

// The MNIST data set: where it is looked for and how its four IDX files become a train_test.

/// MNIST's four files are in none of the directories searched: a distinct outcome, so that a
/// caller can tell "not fetched here" (fetch it, point --data-dir at it, or choose other data)
/// from a damaged file. The message lists the directories in the order searched and the fixes.
class mnist_not_found : public data_error {
public:
  /// `searched`: the directories looked in, in order.
  explicit mnist_not_found(std::vector<std::filesystem::path> searched);

  /// The directories looked in, in the order searched.
  const std::vector<std::filesystem::path>& searched() const noexcept { return searched_; }

private:
  std::vector<std::filesystem::path> searched_;
};

// The directories `mnist` is looked for in, in order (model/data_locations.hpp): data/mnist
// relative to the working directory, then mnist under each of where.data_roots() (the data
// directory, the installed data, the repository's data/).
std::vector<std::filesystem::path> mnist_search_path(const data_locations& where);
/// mnist_search_path() of default_data_locations(): $DSQ_DATA_DIR and $DSQ_SOURCE_DIR.
std::vector<std::filesystem::path> mnist_search_path();

/// The first directory of mnist_search_path(where) that holds the four IDX files, if any.
std::optional<std::filesystem::path> find_mnist_directory(const data_locations& where);
/// find_mnist_directory() of default_data_locations().
std::optional<std::filesystem::path> find_mnist_directory();

/// The directory MNIST is read from for `mnist` (dir empty) or `mnist:dir=DIR` (a relative DIR
/// is looked for like any data path: as given, then under each data root). Throws
/// mnist_not_found listing every place looked in.
std::filesystem::path locate_mnist(const std::filesystem::path& dir, const data_locations& where);

// True if load_dataset("mnist", ...) would find its files: what a demo checks to fall back to
// synthetic data instead of failing. (It does not validate the files' contents.)
bool mnist_available();

// Reads MNIST through the data cache (model/data_cache.hpp; parse_mnist on a miss), with its
// cache_note. Throws like parse_mnist.
train_test load_mnist(const std::filesystem::path& directory);

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (or the same names with '.' before "idx") from `directory`. Pixels
// are scaled to [0, 1]. Throws dsq::data_error naming the file at fault.
train_test parse_mnist(const std::filesystem::path& directory);

} // namespace dsq
