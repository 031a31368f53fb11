#include "model/mnist.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "model/data_cache.hpp"
#include "model/mnist_idx.hpp"

namespace dsq {

namespace {

std::filesystem::path idx_file(const std::filesystem::path& dir, const char* stem,
                               const char* kind) {
  // Both spellings circulate: "train-images-idx3-ubyte" and "train-images.idx3-ubyte".
  auto dashed = dir / fmt::format("{}-{}-ubyte", stem, kind);
  auto dotted = dir / fmt::format("{}.{}-ubyte", stem, kind);
  std::error_code ec;
  return !std::filesystem::exists(dashed, ec) && std::filesystem::exists(dotted, ec) ? dotted
                                                                                     : dashed;
}

bool has_mnist_files(const std::filesystem::path& dir) {
  std::error_code ec;
  for (auto [stem, kind] : {std::pair{"train-images", "idx3"},
                            {"train-labels", "idx1"},
                            {"t10k-images", "idx3"},
                            {"t10k-labels", "idx1"}})
    if (!std::filesystem::is_regular_file(idx_file(dir, stem, kind), ec))
      return false;
  return true;
}

std::string not_found_message(const std::vector<std::filesystem::path>& searched) {
  return fmt::format("MNIST not found (looked in: {}); fetch it with scripts/setup.sh (into the "
                     "repository's data/mnist), or give --data-dir=DIR or DSQ_DATA_DIR=DIR for "
                     "a DIR holding mnist/, or use --dataset=synthetic",
                     join_paths(searched));
}

} // namespace

mnist_not_found::mnist_not_found(std::vector<std::filesystem::path> searched)
    : data_error(not_found_message(searched)), searched_(std::move(searched)) {}

std::vector<std::filesystem::path> mnist_search_path(const data_locations& where) {
  // The working directory's data/mnist first: a run from the repository root uses its files.
  std::vector<std::filesystem::path> dirs{std::filesystem::path("data") / "mnist"};
  for (const auto& root : where.data_roots())
    if (auto dir = root / "mnist"; std::find(dirs.begin(), dirs.end(), dir) == dirs.end())
      dirs.push_back(std::move(dir));
  return dirs;
}

std::vector<std::filesystem::path> mnist_search_path() {
  return mnist_search_path(default_data_locations());
}

std::optional<std::filesystem::path> find_mnist_directory(const data_locations& where) {
  for (const auto& dir : mnist_search_path(where))
    if (has_mnist_files(dir))
      return dir;
  return std::nullopt;
}

std::optional<std::filesystem::path> find_mnist_directory() {
  return find_mnist_directory(default_data_locations());
}

std::filesystem::path locate_mnist(const std::filesystem::path& dir, const data_locations& where) {
  if (dir.empty()) {
    if (auto found = find_mnist_directory(where))
      return *found;
    throw mnist_not_found(mnist_search_path(where));
  }
  const auto candidates = data_path_candidates(dir, where);
  for (const auto& candidate : candidates)
    if (has_mnist_files(candidate))
      return candidate;
  // A directory without all four files is still the one meant: reading it names the file.
  std::error_code ec;
  for (const auto& candidate : candidates)
    if (std::filesystem::is_directory(candidate, ec))
      return candidate;
  throw mnist_not_found(candidates);
}

bool mnist_available() {
  return find_mnist_directory().has_value();
}

train_test load_mnist(const std::filesystem::path& directory) {
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec))
    throw data_error(directory, "MNIST directory not found");
  const std::filesystem::path sources[] = {
      idx_file(directory, "train-images", "idx3"), idx_file(directory, "train-labels", "idx1"),
      idx_file(directory, "t10k-images", "idx3"), idx_file(directory, "t10k-labels", "idx1")};
  auto cached = load_through_cache(data_cache_directory(), "mnist", sources,
                                   [&] { return parse_mnist(directory); });
  auto& data = cached.data;
  switch (cached.outcome) {
  case cache_outcome::disabled:
    break;
  case cache_outcome::hit:
    data.cache_note = fmt::format("data from the cache {}", cached.file.string());
    break;
  case cache_outcome::written:
    data.cache_note = fmt::format("data cache written: {}", cached.file.string());
    break;
  case cache_outcome::rebuilt:
    data.cache_note = fmt::format("the data cache {} was damaged ({}): rebuilt from the IDX files",
                                  cached.file.string(), cached.problem);
    data.cache_warning = true;
    break;
  case cache_outcome::unwritten:
    data.cache_note = fmt::format("no data cache written ({}); set DSQ_CACHE_DIR to a writable "
                                  "directory, or DSQ_CACHE_DIR=off",
                                  cached.problem);
    data.cache_warning = true;
    break;
  }
  return std::move(cached.data);
}

train_test parse_mnist(const std::filesystem::path& directory) {
  train_test data;
  data.train = read_mnist_pair(idx_file(directory, "train-images", "idx3"),
                               idx_file(directory, "train-labels", "idx1"));
  data.test = read_mnist_pair(idx_file(directory, "t10k-images", "idx3"),
                              idx_file(directory, "t10k-labels", "idx1"));
  if (data.train.dimension() != data.test.dimension())
    throw data_error(directory, fmt::format("training images have {} pixels, test images {}",
                                            data.train.dimension(), data.test.dimension()));
  data.description = fmt::format("MNIST ({} train / {} test, {} features)", data.train.size(),
                                 data.test.size(), data.train.dimension());
  return data;
}

} // namespace dsq
