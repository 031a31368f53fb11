// What the text readers detect and what they ask for (issue 26): CSV separators, label columns
// and string labels; LIBSVM files with zero-based indices; standardization by default for both
// formats, and an MLP that therefore learns a badly scaled CSV file.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/csv.hpp"
#include "model/data_error.hpp"
#include "model/libsvm.hpp"
#include "model/load_dataset.hpp"
#include "model/make_model.hpp"

#include "sgd_training.hpp"
#include "tests/support/temp_directory.hpp"
#include "thrown_message.hpp"

namespace {

void expect_message(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* part : parts)
    BOOST_TEST(contains(message, part), message);
}

// A wine-like table as scikit-learn's load_wine(as_frame=True).frame.to_csv(index=False) writes
// it: a header, features of very different scales (about 13, 2 and 750), the class last.
// Three classes, `per_class` samples each, separated in every feature by about one deviation.
std::string wine_like_csv(int per_class, char separator = ',') {
  std::string text = fmt::format("alcohol{0}malic_acid{0}proline{0}target\n", separator);
  std::uint64_t state = 12345;
  auto noise = [&state] { // uniform in [-1, 1): a fixed LCG, the same on every machine
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / static_cast<double>(1ULL << 52) - 1.0;
  };
  for (int i = 0; i < per_class; ++i)
    for (int c = 0; c < 3; ++c)
      text +=
          fmt::format("{1:.3f}{0}{2:.3f}{0}{3:.1f}{0}{4}\n", separator, 12.0 + c + 0.8 * noise(),
                      2.0 + 0.5 * c + 0.4 * noise(), 500.0 + 250.0 * c + 200.0 * noise(), c);
  return text;
}

} // namespace

BOOST_AUTO_TEST_SUITE(csv_detection)

BOOST_AUTO_TEST_CASE(a_header_named_target_makes_the_last_column_the_label) {
  temp_directory dir;
  const auto file = dir.write("wine.csv", wine_like_csv(10));
  const auto read = dsq::read_csv_file(file);
  BOOST_TEST(read.label_column == 3u);
  BOOST_TEST(read.label_by_name);
  BOOST_TEST(read.label_header == "target");
  BOOST_TEST(read.data.dimension() == 3);
  BOOST_TEST(read.labels.of_sample().size() == 30u);
  const auto data = dsq::load_dataset("csv:path=" + file.string(), 1);
  BOOST_TEST(data.train.num_classes == 3);
  BOOST_TEST(data.train.size() + data.test.size() == 30u);
  BOOST_TEST(contains(data.description, "label 'target' (column 4)"), data.description);
  BOOST_TEST(contains(data.description, "standardized (training-set statistics)"),
             data.description);
  // Any header name, in any column, with label=name:COLUMN (case ignored).
  const auto named = dir.write("named.csv", "a,Kind,b\n1,0,2\n3,1,4\n");
  // Spreadsheets write a byte order mark before the header.
  const auto marked = dir.write("marked.csv", "\xEF\xBB\xBFlabel,x\n1,2\n0,3\n");
  BOOST_TEST(dsq::read_csv_file(marked).label_header == "label");
  const auto by_name = dsq::read_csv_file(
      named, {dsq::csv_separator::automatic, {dsq::csv_label::rule::named, "kind", 0}});
  BOOST_TEST(by_name.label_column == 1u);
  BOOST_TEST(by_name.data.features(1, 1) == 4.0f);
  expect_message(message_of([&] {
                   dsq::load_dataset("csv:path=" + named.string() + ",label=name:species", 0);
                 }),
                 {"named.csv", "no column named 'species'", "'a', 'Kind', 'b'"});
}

BOOST_AUTO_TEST_CASE(tab_and_semicolon_separators_are_detected_from_the_first_line) {
  temp_directory dir;
  for (const auto& [separator, name] :
       {std::pair{'\t', dsq::csv_separator::tab}, {';', dsq::csv_separator::semicolon}}) {
    BOOST_TEST_CONTEXT(dsq::separator_name(name)) {
      const auto file = dir.write("wine.txt", wine_like_csv(4, separator));
      const auto read = dsq::read_csv_file(file);
      BOOST_TEST((read.separator == name));
      BOOST_TEST(read.data.dimension() == 3);
      BOOST_TEST(read.label_column == 3u);
      const auto data = dsq::load_dataset("csv:path=" + file.string(), 1);
      BOOST_TEST(contains(data.description, std::string(dsq::separator_name(name)) + "-separated"),
                 data.description);
      // A separator given wrongly is named in the error, with the option that fixes it.
      expect_message(
          message_of([&] { dsq::load_dataset("csv:path=" + file.string() + ",sep=comma", 1); }),
          {"wine.txt", "line 1", "found 1 column with sep=comma", "sep=auto"});
    }
  }
  // One column whatever the separator: the message says which options set it.
  const auto single = dir.write("one.csv", "1 2 3\n4 5 6\n");
  expect_message(message_of([&] { dsq::read_csv_file(single); }),
                 {"found 1 column", "sep=comma", "sep=semicolon", "sep=tab"});
}

BOOST_AUTO_TEST_CASE(string_labels_become_classes_in_sorted_order_shared_by_train_and_test) {
  temp_directory dir;
  // In order of appearance: virginica, setosa, versicolor; sorted: setosa, versicolor, virginica.
  const auto train = dir.write("train.csv", "sepal,petal,species\n"
                                            "6.3,5.0,virginica\n"
                                            "5.1,1.4,setosa\n"
                                            "5.9,4.2,versicolor\n"
                                            "5.0,1.5,\"setosa\"\n");
  const auto test = dir.write("test.csv", "7.0,5.5,virginica\n5.0,1.3,setosa\n");
  const auto data = dsq::load_dataset("csv:path=" + train.string() + ",test=" + test.string(), 0);
  BOOST_TEST(data.train.num_classes == 3);
  BOOST_TEST(data.test.num_classes == 3);
  BOOST_TEST(data.train.labels == (std::vector<std::int32_t>{2, 0, 1, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(data.test.labels == (std::vector<std::int32_t>{2, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(
      contains(data.description, "classes by name in sorted order (setosa, versicolor, virginica)"),
      data.description);
  // Without a header and without names: the label is the column whose value is a class.
  const auto bare = dir.write("bare.csv", "5.1,1.4,setosa\n6.3,5.0,virginica\n");
  BOOST_TEST(dsq::read_csv_file(bare).label_column == 2u);
  // Whole numbers written as "2.0" are the class 2, as "2" is.
  const auto floats = dir.write("floats.csv", "x,y\n0.5,2.0\n0.7,1\n0.1,2\n");
  const auto numeric = dsq::read_csv(floats, dsq::csv_label_column::last);
  BOOST_TEST(numeric.labels == (std::vector<std::int32_t>{2, 1, 2}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(what_cannot_be_detected_is_refused_naming_the_option) {
  temp_directory dir;
  // No header, fractional values at both ends: no column can be the label.
  const auto neither = dir.write("neither.csv", "14.2,1.7,0.5\n13.1,2.1,0.25\n");
  expect_message(message_of([&] { dsq::read_csv_file(neither); }),
                 {"neither.csv", "line 1", "cannot tell which column is the label", "'14.2'",
                  "label=first", "label=last", "label=name:COLUMN"});
  // The first column taken by default holds one value: the error says which column was used.
  const auto one_class = dir.write("one.csv", "1,5.5,0\n1,6.5,1\n1,7.5,0\n1,8.5,1\n1,9.5,0\n");
  expect_message(
      message_of([&] { dsq::load_dataset("csv:path=" + one_class.string(), 0); }),
      {"one.csv", "at least 2 classes, found 1", "label in the first column", "label=last"});
  BOOST_TEST(
      dsq::load_dataset("csv:path=" + one_class.string() + ",label=last", 0).train.num_classes ==
      2);
  // A fractional label in the chosen column.
  const auto fractional = dir.write("frac.csv", "1,2\n1.5,3\n");
  expect_message(message_of([&] { dsq::read_csv(fractional); }),
                 {"frac.csv", "line 2, column 1", "'1.5'", "label=last"});
  // Two columns of one label name; of two names, the more telling one wins.
  const auto twice = dir.write("twice.csv", "label,x,label\n1,2,3\n");
  expect_message(message_of([&] { dsq::read_csv_file(twice); }),
                 {"columns 1 and 3 are both called 'label'", "label=name:COLUMN"});
  const auto two = dir.write("two.csv", "class,x,label\n1,2,3\n");
  BOOST_TEST(dsq::read_csv_file(two).label_column == 2u);
  BOOST_CHECK_THROW(dsq::load_dataset("csv:path=" + two.string() + ",label=frist", 0),
                    std::invalid_argument);
  BOOST_CHECK_THROW(dsq::load_dataset("csv:path=" + two.string() + ",sep=pipe", 0),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(libsvm_numbering)

BOOST_AUTO_TEST_CASE(an_index_0_makes_auto_read_every_file_zero_based) {
  temp_directory dir;
  // What scikit-learn's dump_svmlight_file writes by default.
  const auto train = dir.write("train.svm", "1 0:1 2:3\n-1 1:2\n");
  const auto data = dsq::load_dataset(
      "libsvm:path=" + train.string() + ",test=" + train.string() + ",normalize=none", 0);
  BOOST_TEST(data.train.dimension() == 3);
  BOOST_TEST(data.train.features(0, 0) == 1.0f);
  BOOST_TEST(data.train.features(2, 0) == 3.0f);
  BOOST_TEST(data.train.features(1, 1) == 2.0f);
  BOOST_TEST(contains(data.description, "zero-based indices (index 0 found)"), data.description);
  // The index 0 of one file decides for both: the test file is shifted like the training file.
  const auto no_zero = dir.write("test.svm", "1 2:5\n");
  const auto mixed = dsq::load_dataset(
      "libsvm:path=" + no_zero.string() + ",test=" + train.string() + ",normalize=none", 0);
  BOOST_TEST(mixed.train.features(2, 0) == 5.0f);
}

BOOST_AUTO_TEST_CASE(without_index_0_auto_reads_one_based_and_zero_based_1_shifts) {
  temp_directory dir;
  const auto file = dir.write("a.svm", "1 1:1 3:3\n-1 2:2\n");
  const auto spec = "libsvm:path=" + file.string() + ",test=" + file.string() + ",normalize=none";
  const auto automatic = dsq::load_dataset(spec, 0);
  BOOST_TEST(automatic.train.dimension() == 3);
  BOOST_TEST(automatic.train.features(0, 0) == 1.0f);
  BOOST_TEST(contains(automatic.description, "one-based indices (no index 0 found)"),
             automatic.description);
  const auto zero_based = dsq::load_dataset(spec + ",zero_based=1", 0);
  BOOST_TEST(zero_based.train.dimension() == 4);
  BOOST_TEST(zero_based.train.features(0, 0) == 0.0f);
  BOOST_TEST(zero_based.train.features(1, 0) == 1.0f);
  BOOST_TEST(contains(zero_based.description, "zero-based indices (zero_based=1)"),
             zero_based.description);
  // An index 0 where one-based numbering is asked for names the option.
  const auto zero = dir.write("zero.svm", "1 1:1\n-1 0:1\n");
  expect_message(
      message_of([&] { dsq::load_dataset("libsvm:path=" + zero.string() + ",zero_based=0", 0); }),
      {"zero.svm", "line 2", "feature index 0", "zero_based=1"});
  BOOST_CHECK_THROW(dsq::load_dataset(spec + ",zero_based=yes", 0), std::invalid_argument);
  // features=N bounds the indices from 0: N - 1 is the last one.
  expect_message(message_of([&] { dsq::read_libsvm(file, 3, dsq::libsvm_indexing::zero_based); }),
                 {"a.svm", "line 1", "feature index 3 exceeds the 3 features"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(text_format_scaling)

BOOST_AUTO_TEST_CASE(text_formats_are_standardized_by_default_and_normalize_none_is_kept) {
  temp_directory dir;
  const auto file = dir.write("wine.csv", wine_like_csv(10));
  const auto standardized = dsq::load_dataset("csv:path=" + file.string(), 1);
  for (Eigen::Index f = 0; f < standardized.train.dimension(); ++f) {
    BOOST_TEST(std::abs(standardized.train.features.row(f).mean()) < 1e-5f);
    const double variance = standardized.train.features.row(f).squaredNorm() /
                            static_cast<double>(standardized.train.size());
    BOOST_TEST(std::abs(variance - 1.0) < 1e-4);
  }
  const auto raw = dsq::load_dataset("csv:path=" + file.string() + ",normalize=none", 1);
  BOOST_TEST(raw.train.features.row(2).maxCoeff() > 300.0f);
  BOOST_TEST(contains(raw.description, "unscaled (normalize=none)"), raw.description);
  // Synthetic data (as MNIST) keeps its default: no normalization, nothing added to the line.
  const auto synthetic = dsq::load_dataset("synthetic:n=50,d=3,classes=2", 1);
  BOOST_TEST(!contains(synthetic.description, "standardized"), synthetic.description);
  BOOST_TEST((synthetic.train.features ==
              dsq::load_dataset("synthetic:n=50,d=3,classes=2,normalize=none", 1).train.features));
}

// The finding of issue 26: an MLP on wine data ended at chance (33%) unless normalize=standardize
// was given. With standardization by default the same run learns.
BOOST_AUTO_TEST_CASE(an_mlp_learns_a_badly_scaled_csv_file_without_options) {
  temp_directory dir;
  const auto file = dir.write("wine.csv", wine_like_csv(100));
  auto accuracy = [&](const std::string& spec) {
    const auto data = dsq::load_dataset(spec, 1);
    const auto m = dsq::make_model("mlp:hidden=16", data.train.dimension(), data.train.num_classes);
    const auto params = train_with_sgd(*m, data.train, 20, 16, 0.1f, 1);
    const double result = dsq::evaluate(*m, params, data.test).accuracy;
    BOOST_TEST_MESSAGE(spec << ": test accuracy " << result);
    return result;
  };
  const double by_default = accuracy("csv:path=" + file.string());
  const double unscaled = accuracy("csv:path=" + file.string() + ",normalize=none");
  BOOST_TEST(by_default >= 0.85); // chance is 1/3
  BOOST_TEST(unscaled < by_default);
}

BOOST_AUTO_TEST_SUITE_END()
