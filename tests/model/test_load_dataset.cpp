// load_dataset(): the spec language, the MNIST search path, label encoding shared by train and
// test, seeded splits and normalisation.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "model/data_error.hpp"
#include "model/load_dataset.hpp"
#include "model/mnist.hpp"

#include "idx_files.hpp"
#include "scoped_env.hpp"
#include "tests/support/temp_directory.hpp"
#include "thrown_message.hpp"

namespace {} // namespace

BOOST_AUTO_TEST_SUITE(load_dataset)

BOOST_AUTO_TEST_CASE(mnist_dir_option_reads_the_four_files) {
  temp_directory dir;
  write_tiny_mnist(dir.path());
  const auto data = dsq::load_dataset("mnist:dir=" + dir.path().string(), 0);
  BOOST_TEST(data.train.size() == 3u);
  BOOST_TEST(data.test.size() == 2u);
  BOOST_TEST(data.train.dimension() == 4);
  BOOST_TEST(data.train.num_classes == 10);
  BOOST_TEST(data.train.features(1, 0) == 1.0f);
  BOOST_TEST(data.test.labels[1] == 5);
  BOOST_TEST(data.description == "MNIST (3 train / 2 test, 4 features)");
}

BOOST_AUTO_TEST_CASE(mnist_limit_keeps_the_first_training_samples) {
  temp_directory dir;
  write_tiny_mnist(dir.path());
  const auto data = dsq::load_dataset("mnist:dir=" + dir.path().string() + ",limit=2", 0);
  BOOST_TEST(data.train.size() == 2u);
  BOOST_TEST(data.train.features.cols() == 2);
  BOOST_TEST(data.test.size() == 2u);
}

BOOST_AUTO_TEST_CASE(mnist_is_found_through_dsq_data_dir) {
  temp_directory dir;
  write_tiny_mnist(dir.path() / "mnist");
  scoped_env env("DSQ_DATA_DIR", dir.path().string());
  BOOST_TEST(dsq::mnist_available());
  BOOST_TEST(dsq::find_mnist_directory().value() == dir.path() / "mnist");
  BOOST_TEST(dsq::load_dataset("mnist", 0).train.size() == 3u);
}

BOOST_AUTO_TEST_CASE(without_dsq_data_dir_mnist_is_looked_for_in_data_then_the_source_tree) {
  temp_directory dir;
  write_tiny_mnist(dir.path() / "data" / "mnist");
  scoped_env no_data_dir("DSQ_DATA_DIR", std::nullopt);
  scoped_env source("DSQ_SOURCE_DIR", dir.path().string());
  const auto path = dsq::mnist_search_path();
  BOOST_TEST_REQUIRE(path.size() == 2u);
  BOOST_TEST(path[0] == std::filesystem::path("data") / "mnist");
  BOOST_TEST(path[1] == dir.path() / "data" / "mnist");
  if (!std::filesystem::exists("data/mnist/train-images-idx3-ubyte")) // true under CTest
    BOOST_TEST(dsq::find_mnist_directory().value() == dir.path() / "data" / "mnist");
}

BOOST_AUTO_TEST_CASE(missing_mnist_is_a_data_error_saying_where_it_looked) {
  temp_directory dir;
  scoped_env env("DSQ_DATA_DIR", dir.path().string());
  scoped_env no_repository("DSQ_SOURCE_DIR", dir.path().string()); // nor the repository's data/
  BOOST_TEST(!dsq::mnist_available());
  BOOST_CHECK_THROW(dsq::load_dataset("mnist", 0), dsq::data_error);
  const auto message = message_of([] { dsq::load_dataset("mnist", 0); });
  BOOST_TEST(contains(message, (dir.path() / "mnist").string()), message);
  BOOST_TEST(contains(message, "synthetic"), message);
}

BOOST_AUTO_TEST_CASE(damaged_mnist_file_is_named) {
  temp_directory dir;
  write_tiny_mnist(dir.path());
  std::ofstream(dir.path() / "t10k-labels-idx1-ubyte", std::ios::binary) << idx_labels({4});
  const auto message =
      message_of([&] { dsq::load_dataset("mnist:dir=" + dir.path().string(), 0); });
  BOOST_TEST(contains(message, "t10k-labels-idx1-ubyte"), message);
  BOOST_TEST(contains(message, "1 labels"), message);
}

BOOST_AUTO_TEST_CASE(libsvm_train_and_test_files_share_labels_and_dimension) {
  temp_directory dir;
  const auto train = dir.write("train.svm", "1 1:1\n3 2:1\n1 1:2\n");
  const auto test = dir.write("test.svm", "2 4:1\n3 1:1\n");
  const auto data =
      dsq::load_dataset("libsvm:path=" + train.string() + ",test=" + test.string(), 0);
  // Values 1, 2, 3 become classes 0, 1, 2 in both parts, although 2 occurs only in test.
  BOOST_TEST(data.train.num_classes == 3);
  BOOST_TEST(data.test.num_classes == 3);
  BOOST_TEST(data.train.labels == (std::vector<std::int32_t>{0, 2, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(data.test.labels == (std::vector<std::int32_t>{1, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(data.train.dimension() == 4);
  BOOST_TEST(data.test.dimension() == 4);
  BOOST_TEST(data.train.features.row(3).isZero());
}

BOOST_AUTO_TEST_CASE(libsvm_without_test_file_is_split_80_20_by_seed) {
  temp_directory dir;
  std::string lines;
  for (int i = 0; i < 50; ++i)
    lines += std::to_string(i % 2 == 0 ? 1 : -1) + " 1:" + std::to_string(i) + "\n";
  const auto file = dir.write("all.svm", lines);
  // Unscaled, so that the feature still is the sample number (text formats are standardized
  // by default).
  const auto spec = "libsvm:path=" + file.string() + ",normalize=none";
  const auto a = dsq::load_dataset(spec, 7);
  const auto b = dsq::load_dataset(spec, 7);
  const auto c = dsq::load_dataset(spec, 8);
  BOOST_TEST(a.train.size() == 40u);
  BOOST_TEST(a.test.size() == 10u);
  BOOST_TEST((a.test.features == b.test.features));
  BOOST_TEST((a.test.features != c.test.features));
  // Every sample lands in exactly one part: the feature is the sample number.
  std::vector<int> seen(50, 0);
  for (const auto* part : {&a.train, &a.test})
    for (Eigen::Index i = 0; i < part->features.cols(); ++i)
      ++seen[std::size_t(part->features(0, i))];
  BOOST_TEST(std::count(seen.begin(), seen.end(), 1) == 50);
  BOOST_TEST(dsq::load_dataset(spec + ",split=0.5", 7).test.size() == 25u);
}

BOOST_AUTO_TEST_CASE(csv_spec_with_label_last_and_standardisation) {
  temp_directory dir;
  const auto train = dir.write("train.csv", "a,b,y\n1,10,0\n3,10,1\n5,10,0\n");
  const auto test = dir.write("test.csv", "3,20,1\n");
  const auto data = dsq::load_dataset("csv:path=" + train.string() + ",test=" + test.string() +
                                          ",label=last,normalize=standardize",
                                      0);
  BOOST_TEST(data.train.num_classes == 2);
  // Train statistics: feature a has mean 3 and deviation sqrt(8/3); b is constant 10.
  BOOST_TEST(std::abs(data.train.features.row(0).mean()) < 1e-6f);
  BOOST_TEST(std::abs(data.train.features(0, 2) - 2.0f / std::sqrt(8.0f / 3.0f)) < 1e-5f);
  BOOST_TEST(data.test.features(0, 0) == 0.0f);
  BOOST_TEST(data.test.features(1, 0) == 10.0f); // only centred: the train deviation is 0
}

BOOST_AUTO_TEST_CASE(synthetic_spec_options_set_the_sizes) {
  const auto data = dsq::load_dataset("synthetic:n=300,test=70,d=5,classes=3,noise=0.5", 1);
  BOOST_TEST(data.train.size() == 300u);
  BOOST_TEST(data.test.size() == 70u);
  BOOST_TEST(data.train.dimension() == 5);
  BOOST_TEST(data.train.num_classes == 3);
  BOOST_TEST(dsq::load_dataset("synthetic:n=300", 1).test.size() == 60u);
}

BOOST_AUTO_TEST_CASE(bad_specs_name_the_spec_and_what_is_known) {
  auto unknown_kind = message_of([] { dsq::load_dataset("imagenet", 0); });
  BOOST_TEST(contains(unknown_kind, "'imagenet'"), unknown_kind);
  BOOST_TEST(contains(unknown_kind, "mnist, synthetic, libsvm, csv"), unknown_kind);
  auto unknown_option = message_of([] { dsq::load_dataset("synthetic:size=3", 0); });
  BOOST_TEST(contains(unknown_option, "size"), unknown_option);
  BOOST_TEST(contains(unknown_option, "known: n, test"), unknown_option);
  BOOST_CHECK_THROW(dsq::load_dataset("synthetic:n=abc", 0), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::load_dataset("libsvm", 0), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::load_dataset("synthetic:normalize=zscore", 0), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::load_dataset("csv:path=x.csv,label=middle", 0), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
