#include "model/load_dataset.hpp"

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "base/keyed_spec.hpp"
#include "model/csv.hpp"
#include "model/data_error.hpp"
#include "model/label_encoding.hpp"
#include "model/libsvm.hpp"
#include "model/mnist.hpp"
#include "model/mnist_idx.hpp"
#include "model/normalize.hpp"
#include "model/split.hpp"
#include "model/synthetic.hpp"

namespace dsq {

namespace {

constexpr const char* known_kinds = "mnist, synthetic, libsvm, csv";
constexpr double default_test_fraction = 0.2;

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

// Text formats may name fewer features in one file than in the other (trailing zeros are
// simply not written): pad the narrower one with zero rows.
void pad_to_common_dimension(train_test& data) {
  const auto d = std::max(data.train.dimension(), data.test.dimension());
  for (auto* part : {&data.train, &data.test}) {
    const auto old = part->dimension();
    if (old < d) {
      part->features.conservativeResize(d, Eigen::NoChange);
      part->features.bottomRows(d - old).setZero();
    }
  }
}

std::string describe(std::string_view what, const train_test& data) {
  return fmt::format("{} ({} train / {} test, {} features, {} classes)", what, data.train.size(),
                     data.test.size(), data.train.dimension(), data.train.num_classes);
}

double take_test_fraction(keyed_spec& spec) {
  const auto fraction = spec.take_double("split").value_or(default_test_fraction);
  if (!(fraction > 0 && fraction < 1))
    throw std::invalid_argument(spec.error_message("split must be in (0, 1)"));
  return fraction;
}

// The shared tail of the two text formats: train and test read by `read`, or one file split.
template <class Read>
train_test load_text_format(keyed_spec& spec, std::uint64_t seed, std::string_view format,
                            Read read) {
  const auto path = spec.take("path");
  if (!path || path->empty())
    throw std::invalid_argument(spec.error_message("path=FILE is required"));
  const auto test_path = spec.take("test");
  train_test data;
  if (test_path) {
    // split= is meaningless with a test file; it is accepted and ignored to keep scripts simple.
    data.train = read(*path);
    data.test = read(*test_path);
    encode_labels(data.train, data.test);
    pad_to_common_dimension(data);
  } else {
    const auto fraction = take_test_fraction(spec);
    auto all = read(*path);
    encode_labels(all);
    try {
      data = split_train_test(all, fraction, seed);
    } catch (const std::invalid_argument& e) {
      throw data_error(*path, e.what());
    }
  }
  if (data.train.num_classes < 2)
    throw data_error(*path, "a classification data set needs at least 2 classes, found " +
                                std::to_string(data.train.num_classes));
  data.description = describe(fmt::format("{} {}", format, *path), data);
  return data;
}

train_test load_mnist_spec(keyed_spec& spec) {
  std::filesystem::path dir;
  if (auto given = spec.take("dir")) {
    dir = *given;
  } else if (auto found = find_mnist_directory()) {
    dir = *found;
  } else {
    std::string searched;
    for (const auto& p : mnist_search_path())
      searched += (searched.empty() ? "" : ", ") + p.string();
    throw data_error(fmt::format("MNIST not found (looked in: {}); run scripts/setup.sh to fetch "
                                 "it, or use the synthetic data set",
                                 searched.empty() ? "nothing" : searched));
  }
  auto data = load_mnist(dir);
  if (auto limit = spec.take_unsigned("limit")) {
    if (*limit == 0)
      throw std::invalid_argument(spec.error_message("limit must be positive"));
    if (*limit < data.train.size()) {
      data.train.features.conservativeResize(Eigen::NoChange, static_cast<Eigen::Index>(*limit));
      data.train.labels.resize(*limit);
    }
  }
  data.description = fmt::format("MNIST ({} train / {} test, {} features)", data.train.size(),
                                 data.test.size(), data.train.dimension());
  return data;
}

train_test load_synthetic_spec(keyed_spec& spec, std::uint64_t seed) {
  synthetic_options options;
  options.train_size = spec.take_unsigned("n").value_or(options.train_size);
  options.test_size =
      spec.take_unsigned("test").value_or(std::max<std::size_t>(options.train_size / 5, 1));
  options.dimension =
      static_cast<Eigen::Index>(spec.take_unsigned("d").value_or(options.dimension));
  options.num_classes = static_cast<int>(spec.take_unsigned("classes").value_or(10));
  options.noise = static_cast<float>(spec.take_double("noise").value_or(options.noise));
  options.separation =
      static_cast<float>(spec.take_double("separation").value_or(options.separation));
  try {
    return make_synthetic(options, seed);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(spec.error_message(e.what()));
  }
}

} // namespace

std::vector<std::filesystem::path> mnist_search_path() {
  if (const char* data_dir = std::getenv("DSQ_DATA_DIR"); data_dir != nullptr && *data_dir)
    return {std::filesystem::path(data_dir) / "mnist"};
  std::vector<std::filesystem::path> dirs{std::filesystem::path("data") / "mnist"};
  if (const char* source_dir = std::getenv("DSQ_SOURCE_DIR"); source_dir != nullptr && *source_dir)
    dirs.push_back(std::filesystem::path(source_dir) / "data" / "mnist");
  return dirs;
}

std::optional<std::filesystem::path> find_mnist_directory() {
  for (const auto& dir : mnist_search_path())
    if (has_mnist_files(dir))
      return dir;
  return std::nullopt;
}

bool mnist_available() {
  return find_mnist_directory().has_value();
}

train_test load_mnist(const std::filesystem::path& directory) {
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec))
    throw data_error(directory, "MNIST directory not found");
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

namespace {

/// The kind of `spec` and its keys, checked: an unknown kind or key throws naming what is known.
void check_kind_and_keys(const keyed_spec& spec) {
  const auto& kind = spec.name();
  if (kind == "mnist")
    spec.reject_unknown({"dir", "limit", "normalize"});
  else if (kind == "synthetic")
    spec.reject_unknown({"n", "test", "d", "classes", "noise", "separation", "normalize"});
  else if (kind == "libsvm")
    spec.reject_unknown({"path", "test", "split", "features", "normalize"});
  else if (kind == "csv")
    spec.reject_unknown({"path", "test", "split", "label", "normalize"});
  else
    throw std::invalid_argument(
        spec.error_message(fmt::format("unknown data set '{}' (known: {})", kind, known_kinds)));
}

} // namespace

void check_dataset_spec(std::string_view spec_text) {
  if (spec_text == "auto")
    return;
  const keyed_spec spec(spec_text, "data set");
  check_kind_and_keys(spec);
}

train_test load_dataset(std::string_view spec_text, std::uint64_t seed) {
  keyed_spec spec(spec_text, "data set");
  const auto& kind = spec.name();
  check_kind_and_keys(spec);

  normalization how;
  try {
    how = parse_normalization(spec.take("normalize").value_or("none"));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(spec.error_message(e.what()));
  }

  train_test data;
  if (kind == "mnist") {
    data = load_mnist_spec(spec);
  } else if (kind == "synthetic") {
    data = load_synthetic_spec(spec, seed);
  } else if (kind == "libsvm") {
    const auto features = static_cast<Eigen::Index>(spec.take_unsigned("features").value_or(0));
    data = load_text_format(spec, seed, "LIBSVM", [features](const std::string& file) {
      return read_libsvm(file, features);
    });
  } else {
    const auto label = spec.take("label").value_or("first");
    if (label != "first" && label != "last")
      throw std::invalid_argument(spec.error_message("label must be 'first' or 'last'"));
    const auto column = label == "first" ? csv_label_column::first : csv_label_column::last;
    data = load_text_format(spec, seed, "CSV",
                            [column](const std::string& file) { return read_csv(file, column); });
  }
  normalize(data, how);
  return data;
}

} // namespace dsq
