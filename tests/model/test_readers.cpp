// The file readers on small files written by the tests: what valid files become, and that
// each kind of damage is reported as a dsq::data_error naming the file and the problem.
#include <boost/test/unit_test.hpp>

#include <string>

#include "model/csv.hpp"
#include "model/data_error.hpp"
#include "model/data_file.hpp"
#include "model/libsvm.hpp"
#include "model/mnist_idx.hpp"

#include "idx_files.hpp"
#include "tests/support/temp_directory.hpp"

namespace {

// Runs `f`, expecting a data_error whose message contains every one of `parts`.
template <class F>
void expect_data_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    BOOST_ERROR("no dsq::data_error thrown");
  } catch (const dsq::data_error& e) {
    const std::string what = e.what();
    for (const auto& part : parts)
      BOOST_TEST(what.find(part) != std::string::npos, "'" << part << "' not in: " << what);
  }
}

// Two 2x3 images with recognisable pixels.
const std::vector<unsigned char> two_images{0,  51, 102, 153, 204, 255, //
                                            10, 20, 30,  40,  50,  60};

} // namespace

BOOST_AUTO_TEST_SUITE(idx_reader)

BOOST_AUTO_TEST_CASE(valid_images_become_one_scaled_column_per_image) {
  temp_directory dir;
  const auto file = dir.write("images", idx_images(2, 2, 3, two_images));
  const auto x = dsq::read_idx_images(file);
  BOOST_TEST(x.rows() == 6);
  BOOST_TEST(x.cols() == 2);
  // Row-major pixel order within the image, bytes scaled to [0, 1].
  for (int k = 0; k < 6; ++k) {
    BOOST_TEST(x(k, 0) == two_images[std::size_t(k)] / 255.0f);
    BOOST_TEST(x(k, 1) == two_images[std::size_t(6 + k)] / 255.0f);
  }
}

BOOST_AUTO_TEST_CASE(valid_labels_are_read_as_stored) {
  temp_directory dir;
  const auto file = dir.write("labels", idx_labels({3, 0, 9}));
  BOOST_TEST(dsq::read_idx_labels(file) == (std::vector<std::int32_t>{3, 0, 9}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(images_and_labels_pair_into_a_ten_class_data_set) {
  temp_directory dir;
  const auto images = dir.write("images", idx_images(2, 2, 3, two_images));
  const auto labels = dir.write("labels", idx_labels({7, 1}));
  const auto data = dsq::read_mnist_pair(images, labels);
  BOOST_TEST(data.size() == 2u);
  BOOST_TEST(data.dimension() == 6);
  BOOST_TEST(data.num_classes == 10);
  BOOST_TEST(data.labels[0] == 7);
}

BOOST_AUTO_TEST_CASE(missing_file_is_reported) {
  temp_directory dir;
  expect_data_error([&] { dsq::read_idx_images(dir.path() / "nothing-here"); },
                    {"nothing-here", "not found"});
}

BOOST_AUTO_TEST_CASE(bad_magic_is_reported) {
  temp_directory dir;
  // A label file given where images are expected.
  const auto file = dir.write("swapped", idx_labels({1, 2, 3}));
  expect_data_error([&] { dsq::read_idx_images(file); }, {"swapped", "bad magic number"});
  const auto images = dir.write("images", idx_images(2, 2, 3, two_images));
  expect_data_error([&] { dsq::read_idx_labels(images); }, {"images", "bad magic number"});
}

BOOST_AUTO_TEST_CASE(truncated_data_is_reported) {
  temp_directory dir;
  auto bytes = idx_images(2, 2, 3, two_images);
  bytes.pop_back();
  const auto file = dir.write("short", bytes);
  expect_data_error([&] { dsq::read_idx_images(file); }, {"short", "truncated"});
}

BOOST_AUTO_TEST_CASE(truncated_header_is_reported) {
  temp_directory dir;
  const auto file = dir.write("stub", idx_images(2, 2, 3, {}).substr(0, 10));
  expect_data_error([&] { dsq::read_idx_images(file); }, {"stub", "truncated", "header"});
}

BOOST_AUTO_TEST_CASE(header_announcing_less_than_the_file_holds_is_reported) {
  temp_directory dir;
  const auto file = dir.write("long", idx_images(1, 2, 3, two_images)); // 1 image announced
  expect_data_error([&] { dsq::read_idx_images(file); }, {"long", "inconsistent"});
}

BOOST_AUTO_TEST_CASE(image_label_count_mismatch_is_reported) {
  temp_directory dir;
  const auto images = dir.write("images", idx_images(2, 2, 3, two_images));
  const auto labels = dir.write("labels", idx_labels({7, 1, 2}));
  expect_data_error([&] { dsq::read_mnist_pair(images, labels); },
                    {"images", "2 images", "labels", "3 labels"});
}

BOOST_AUTO_TEST_CASE(label_that_is_no_digit_is_reported) {
  temp_directory dir;
  const auto images = dir.write("images", idx_images(2, 2, 3, two_images));
  const auto labels = dir.write("labels", idx_labels({7, 10}));
  expect_data_error([&] { dsq::read_mnist_pair(images, labels); }, {"labels", "label 10"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(libsvm_reader)

BOOST_AUTO_TEST_CASE(sparse_lines_become_dense_columns_with_one_based_indices) {
  temp_directory dir;
  const auto file = dir.write("a.svm", "+1 1:0.5 3:2\n"
                                       "-1 2:-1.5   # a comment\n"
                                       "\n"
                                       "1 4:7e-1\n");
  const auto data = dsq::read_libsvm(file);
  BOOST_TEST(data.size() == 3u);
  BOOST_TEST(data.dimension() == 4); // the largest index
  Eigen::MatrixXf expected(4, 3);
  expected << 0.5f, 0, 0, //
      0, -1.5f, 0,        //
      2, 0, 0,            //
      0, 0, 0.7f;
  BOOST_TEST(data.features.isApprox(expected));
  BOOST_TEST(data.labels == (std::vector<std::int32_t>{1, -1, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(features_option_fixes_the_dimension) {
  temp_directory dir;
  const auto file = dir.write("a.svm", "0 1:1\n1 2:1\n");
  BOOST_TEST(dsq::read_libsvm(file, 10).dimension() == 10);
  expect_data_error([&] { dsq::read_libsvm(file, 1); }, {"a.svm", "line 2", "exceeds"});
}

BOOST_AUTO_TEST_CASE(malformed_lines_are_reported_with_their_line_number) {
  temp_directory dir;
  const auto no_colon = dir.write("a.svm", "1 1:1\n\n2 3 4:1\n");
  expect_data_error([&] { dsq::read_libsvm(no_colon); }, {"a.svm", "line 3", "'3'"});
  const auto zero_index = dir.write("b.svm", "1 0:1\n");
  expect_data_error([&] { dsq::read_libsvm(zero_index); }, {"b.svm", "line 1", "1-based"});
  const auto bad_value = dir.write("c.svm", "1 1:1\n1 2:x\n");
  expect_data_error([&] { dsq::read_libsvm(bad_value); }, {"c.svm", "line 2", "'x'"});
  const auto bad_label = dir.write("d.svm", "1 1:1\n0.5 1:1\n");
  expect_data_error([&] { dsq::read_libsvm(bad_label); }, {"d.svm", "line 2", "label"});
  const auto decreasing = dir.write("e.svm", "1 3:1 2:1\n");
  expect_data_error([&] { dsq::read_libsvm(decreasing); }, {"e.svm", "line 1", "increase"});
}

BOOST_AUTO_TEST_CASE(empty_or_missing_file_is_reported) {
  temp_directory dir;
  const auto empty = dir.write("empty.svm", "# only a comment\n");
  expect_data_error([&] { dsq::read_libsvm(empty); }, {"empty.svm", "no samples"});
  expect_data_error([&] { dsq::read_libsvm(dir.path() / "absent.svm"); }, {"absent.svm"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(csv_reader)

BOOST_AUTO_TEST_CASE(csv_without_header_reads_label_first) {
  temp_directory dir;
  const auto file = dir.write("a.csv", "1,0.5,2\n0, -1 ,3\r\n");
  const auto data = dsq::read_csv(file);
  BOOST_TEST(data.size() == 2u);
  BOOST_TEST(data.dimension() == 2);
  BOOST_TEST(data.labels == (std::vector<std::int32_t>{1, 0}), boost::test_tools::per_element());
  BOOST_TEST(data.features(0, 0) == 0.5f);
  BOOST_TEST(data.features(1, 1) == 3.0f);
  BOOST_TEST(data.features(0, 1) == -1.0f);
}

BOOST_AUTO_TEST_CASE(csv_header_is_detected_and_skipped) {
  temp_directory dir;
  const auto file = dir.write("a.csv", "label,x,y\n2,1,2\n\n3,4,5\n");
  const auto data = dsq::read_csv(file);
  BOOST_TEST(data.size() == 2u);
  BOOST_TEST(data.labels[1] == 3);
  BOOST_TEST(data.features(1, 1) == 5.0f);
}

BOOST_AUTO_TEST_CASE(csv_label_can_be_the_last_column) {
  temp_directory dir;
  const auto file = dir.write("a.csv", "x,y,class\n1,2,7\n");
  const auto data = dsq::read_csv(file, dsq::csv_label_column::last);
  BOOST_TEST(data.labels[0] == 7);
  BOOST_TEST(data.features(0, 0) == 1.0f);
  BOOST_TEST(data.features(1, 0) == 2.0f);
}

BOOST_AUTO_TEST_CASE(csv_bad_value_is_reported_with_line_and_column) {
  temp_directory dir;
  const auto file = dir.write("a.csv", "label,x,y\n1,2,3\n1,abc,3\n");
  expect_data_error([&] { dsq::read_csv(file); }, {"a.csv", "line 3", "column 2", "'abc'"});
  // A typo in the very first sample is not mistaken for a header.
  const auto first = dir.write("b.csv", "1,2,zz\n1,2,3\n");
  expect_data_error([&] { dsq::read_csv(first); }, {"b.csv", "line 1", "column 3", "'zz'"});
}

BOOST_AUTO_TEST_CASE(csv_wrong_column_count_is_reported) {
  temp_directory dir;
  const auto file = dir.write("a.csv", "1,2,3\n1,2\n");
  expect_data_error([&] { dsq::read_csv(file); }, {"a.csv", "line 2", "2 columns", "expected 3"});
}

BOOST_AUTO_TEST_SUITE_END()

// Input that would crash, hang or poison a run is refused where it is read, naming file and line.
BOOST_AUTO_TEST_SUITE(input_limits)

BOOST_AUTO_TEST_CASE(non_finite_values_are_refused_with_their_line) {
  temp_directory dir;
  for (const char* value : {"nan", "inf", "-inf", "infinity", "NaN"}) {
    BOOST_TEST_CONTEXT(value) {
      // Whether the number parser or the reader's own check refuses it, the message names the
      // file, the line, the place in it and the value.
      const std::string quoted = std::string{"'"} + value + "'";
      const auto svm = dir.write("n.svm", std::string{"1 1:1\n-1 1:2 3:"} + value + "\n");
      expect_data_error([&] { dsq::read_libsvm(svm); }, {"n.svm", "line 2", "feature 3", quoted});
      const auto csv = dir.write("n.csv", std::string{"label,a,b\n1,0.5,1\n0,"} + value + ",2\n");
      expect_data_error([&] { dsq::read_csv(csv); }, {"n.csv", "line 3", "column 2", quoted});
    }
  }
}

BOOST_AUTO_TEST_CASE(a_value_beyond_float_is_refused) {
  temp_directory dir;
  const auto svm = dir.write("big.svm", "1 1:1e39\n");
  expect_data_error([&] { dsq::read_libsvm(svm); }, {"big.svm", "line 1", "1e39"});
}

BOOST_AUTO_TEST_CASE(a_huge_feature_index_is_refused_naming_the_limit) {
  temp_directory dir;
  const auto svm = dir.write("wide.svm", "1 1:1\n1 2000000000:1\n");
  expect_data_error(
      [&] { dsq::read_libsvm(svm); },
      {"wide.svm", "line 2", "feature index 2000000000 exceeds the limit of 10000000"});
  expect_data_error([&] { dsq::read_libsvm(svm, dsq::max_libsvm_features + 1); },
                    {"wide.svm", "features=10000001 exceeds the limit"});
}

BOOST_AUTO_TEST_CASE(idx_dimensions_whose_product_wraps_past_2_64_are_refused) {
  temp_directory dir;
  // 4 x 2^31 x 2^31 = 2^64: wrapped, it would announce 0 bytes and match an empty payload.
  const auto wrap = dir.write("wrap", idx_images(4, 1u << 31, 1u << 31, {}));
  expect_data_error([&] { dsq::read_idx_images(wrap); }, {"wrap", "overflow"});
  // Dimensions that multiply to more than the file holds.
  const auto big = dir.write("big", idx_images(60000, 65535, 65535, two_images));
  expect_data_error([&] { dsq::read_idx_images(big); }, {"big", "truncated"});
}

BOOST_AUTO_TEST_CASE(devices_and_directories_are_not_data_files) {
  temp_directory dir;
  // /dev/zero would be read forever; a directory cannot be read at all.
  expect_data_error([&] { dsq::read_libsvm("/dev/zero"); }, {"/dev/zero", "not a regular file"});
  expect_data_error([&] { dsq::read_csv("/dev/zero"); }, {"/dev/zero", "not a regular file"});
  expect_data_error([&] { dsq::read_idx_images("/dev/zero"); },
                    {"/dev/zero", "not a regular file"});
  expect_data_error([&] { dsq::read_libsvm(dir.path()); }, {"not a regular file"});
}

BOOST_AUTO_TEST_SUITE_END()
