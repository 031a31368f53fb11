#include "model/load_dataset.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "base/keyed_spec.hpp"
#include "model/csv.hpp"
#include "model/data_error.hpp"
#include "model/label_encoding.hpp"
#include "model/libsvm.hpp"
#include "model/mnist.hpp"
#include "model/normalize.hpp"
#include "model/registry.hpp"
#include "model/split.hpp"
#include "model/synthetic.hpp"

namespace dsq {

namespace {

constexpr const char* known_kinds = "mnist, synthetic, libsvm, csv";
constexpr double default_test_fraction = 0.2;

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

// The files of a text format: path= and test=, each looked for as data_locations describes.
// split= is meaningless with a test file; it is accepted and ignored to keep scripts simple.
struct text_files {
  std::filesystem::path train;
  std::optional<std::filesystem::path> test;
  double test_fraction = default_test_fraction;
};

text_files take_text_files(keyed_spec& spec, const data_locations& where) {
  const auto path = spec.take("path");
  if (!path || path->empty())
    throw std::invalid_argument(spec.error_message("path=FILE is required"));
  text_files files;
  files.train = find_data_file(*path, where);
  if (auto test = spec.take("test"))
    files.test = find_data_file(*test, where);
  else
    files.test_fraction = take_test_fraction(spec);
  return files;
}

// The shared tail of the text formats: train and test as read (labels already encoded with one
// mapping), or the one file split by the seed. `label_hint` follows the class-count error.
train_test assemble(dataset train, std::optional<dataset> test, const text_files& files,
                    std::uint64_t seed, std::string_view label_hint) {
  train_test data;
  if (test) {
    data.train = std::move(train);
    data.test = std::move(*test);
    pad_to_common_dimension(data);
  } else {
    try {
      data = split_train_test(train, files.test_fraction, seed);
    } catch (const std::invalid_argument& e) {
      throw data_error(files.train, e.what());
    }
  }
  if (data.train.num_classes < 2)
    throw data_error(files.train,
                     fmt::format("a classification data set needs at least 2 classes, found {}{}",
                                 data.train.num_classes, label_hint));
  return data;
}

libsvm_indexing choose_indexing(keyed_spec& spec, const std::vector<const libsvm_entries*>& files,
                                std::string& note) {
  const auto given = spec.take("zero_based").value_or("auto");
  if (given == "1") {
    note = "zero-based indices (zero_based=1)";
    return libsvm_indexing::zero_based;
  }
  if (given == "0") {
    note = "one-based indices (zero_based=0)";
    return libsvm_indexing::one_based;
  }
  if (given != "auto")
    throw std::invalid_argument(spec.error_message("zero_based must be 0, 1 or auto"));
  // Only an index 0 shows the numbering; without one, LIBSVM's own convention holds.
  const bool zero = std::any_of(files.begin(), files.end(),
                                [](const libsvm_entries* f) { return f->zero_index_line != 0; });
  note = zero ? "zero-based indices (index 0 found)" : "one-based indices (no index 0 found)";
  return zero ? libsvm_indexing::zero_based : libsvm_indexing::one_based;
}

train_test load_libsvm_spec(keyed_spec& spec, std::uint64_t seed, const data_locations& where,
                            std::string& notes) {
  const auto features = static_cast<Eigen::Index>(spec.take_unsigned("features").value_or(0));
  const auto files = take_text_files(spec, where);
  const auto train_entries = read_libsvm_entries(files.train);
  std::optional<libsvm_entries> test_entries;
  if (files.test)
    test_entries = read_libsvm_entries(*files.test);
  std::vector<const libsvm_entries*> all{&train_entries};
  if (test_entries)
    all.push_back(&*test_entries);
  const auto indexing = choose_indexing(spec, all, notes);
  auto train = to_dense(train_entries, indexing, features, files.train);
  std::optional<dataset> test;
  if (test_entries) {
    test = to_dense(*test_entries, indexing, features, *files.test);
    encode_labels(train, *test);
  } else {
    encode_labels(train);
  }
  auto data = assemble(std::move(train), std::move(test), files, seed, "");
  data.description = describe(fmt::format("LIBSVM {}", files.train.string()), data);
  return data;
}

csv_options take_csv_options(keyed_spec& spec) {
  csv_options options;
  try {
    options.separator = parse_csv_separator(spec.take("sep").value_or("auto"));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(spec.error_message(e.what()));
  }
  // A header name is written name:COLUMN, so that a mistyped "first" is an error, not a name.
  constexpr std::string_view by_name = "name:";
  const auto label = spec.take("label").value_or("auto");
  if (label == "auto")
    options.label.how = csv_label::rule::automatic;
  else if (label == "first")
    options.label.how = csv_label::rule::first;
  else if (label == "last")
    options.label.how = csv_label::rule::last;
  else if (label.size() > by_name.size() && label.starts_with(by_name))
    options.label = {csv_label::rule::named, label.substr(by_name.size()), 0};
  else
    throw std::invalid_argument(spec.error_message(
        "label must be auto, first, last or name:COLUMN (a header name), not '" + label + "'"));
  return options;
}

std::string describe_label(const csv_file& file) {
  if (!file.label_header.empty())
    return fmt::format("label '{}' (column {})", file.label_header, file.label_column + 1);
  if (file.label_column == 0)
    return "label in the first column";
  if (file.label_column + 1 == file.columns)
    return "label in the last column";
  return fmt::format("label in column {}", file.label_column + 1);
}

std::string describe_classes(const class_names& classes) {
  if (classes.numeric)
    return "";
  constexpr std::size_t shown = 5;
  std::string names;
  for (std::size_t k = 0; k < std::min(shown, classes.names.size()); ++k)
    names += fmt::format("{}{}", k == 0 ? "" : ", ", classes.names[k]);
  if (classes.names.size() > shown)
    names += ", ...";
  return fmt::format(", classes by name in sorted order ({})", names);
}

train_test load_csv_spec(keyed_spec& spec, std::uint64_t seed, const data_locations& where,
                         std::string& notes) {
  const auto options = take_csv_options(spec);
  const auto files = take_text_files(spec, where);
  auto train = read_csv_file(files.train, options);
  std::optional<csv_file> test;
  class_names classes;
  if (files.test) {
    // The test file is read as the training file was: same separator, same label column.
    csv_options same;
    same.separator = train.separator;
    same.label = {csv_label::rule::column, {}, train.label_column};
    test = read_csv_file(*files.test, same);
    classes = encode_written_labels({{train.labels, train.data}, {test->labels, test->data}});
  } else {
    classes = encode_written_labels({{train.labels, train.data}});
  }
  const auto label = describe_label(train);
  const auto hint = fmt::format(
      " ({}; label=first, label=last or label=name:COLUMN picks another column)", label);
  auto data = assemble(std::move(train.data),
                       test ? std::optional<dataset>(std::move(test->data)) : std::nullopt, files,
                       seed, hint);
  notes = label + describe_classes(classes);
  if (train.separator != csv_separator::comma)
    notes += fmt::format(", {}-separated", separator_name(train.separator));
  data.description = describe(fmt::format("CSV {}", files.train.string()), data);
  return data;
}

train_test load_mnist_spec(keyed_spec& spec, const data_locations& where) {
  auto data = load_mnist(locate_mnist(spec.take("dir").value_or(""), where));
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

// How the features were scaled, for the description; empty for none where none is the default.
std::string describe_scaling(normalization how, bool text_format) {
  switch (how) {
  case normalization::standardize:
    return "standardized (training-set statistics)";
  case normalization::unit_range:
    return "scaled to [0, 1] (training-set statistics)";
  case normalization::none:
    return text_format ? "unscaled (normalize=none)" : "";
  }
  return "";
}

} // namespace

namespace {

/// The kind of `spec` and its keys, checked: an unknown kind or key throws naming what is known.
void check_kind_and_keys(const keyed_spec& spec) {
  const auto& kind = spec.name();
  if (kind == "mnist")
    spec.reject_unknown({"dir", "limit", "normalize"});
  else if (kind == "synthetic")
    spec.reject_unknown({"n", "test", "d", "classes", "noise", "separation", "normalize"});
  else if (kind == "libsvm")
    spec.reject_unknown({"path", "test", "split", "features", "zero_based", "normalize"});
  else if (kind == "csv")
    spec.reject_unknown({"path", "test", "split", "label", "sep", "normalize"});
  else
    throw std::invalid_argument(
        spec.error_message(fmt::format("unknown data set '{}' (known: {}{})", kind, known_kinds,
                                       registered_tail(registered_datasets()))));
}

} // namespace

void check_dataset_spec(std::string_view spec_text) {
  if (spec_text == "auto")
    return;
  const keyed_spec spec(spec_text, "data set");
  // A registered data set's parameters are its factory's to read (load_training).
  if (find_data_factory(spec.name()))
    return;
  check_kind_and_keys(spec);
}

train_test load_dataset(std::string_view spec_text, std::uint64_t seed,
                        const data_locations& where) {
  keyed_spec spec(spec_text, "data set");
  const auto& kind = spec.name();
  check_kind_and_keys(spec);

  // Features of a text format come in whatever units the file has: standardize unless told.
  const bool text_format = kind == "libsvm" || kind == "csv";
  normalization how;
  try {
    how =
        parse_normalization(spec.take("normalize").value_or(text_format ? "standardize" : "none"));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(spec.error_message(e.what()));
  }

  train_test data;
  std::string notes; // what was decided about the files, for the description
  if (kind == "mnist")
    data = load_mnist_spec(spec, where);
  else if (kind == "synthetic")
    data = load_synthetic_spec(spec, seed);
  else if (kind == "libsvm")
    data = load_libsvm_spec(spec, seed, where, notes);
  else
    data = load_csv_spec(spec, seed, where, notes);
  normalize(data, how);
  for (const auto& part : {notes, describe_scaling(how, text_format)})
    if (!part.empty())
      data.description += ", " + part;
  return data;
}

train_test load_dataset(std::string_view spec, std::uint64_t seed) {
  return load_dataset(spec, seed, default_data_locations());
}

} // namespace dsq
