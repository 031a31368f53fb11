#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "model/label_encoding.hpp"
#include "model/normalize.hpp"
#include "model/split.hpp"

BOOST_AUTO_TEST_SUITE(normalize_and_split)

BOOST_AUTO_TEST_CASE(unit_range_uses_training_min_and_max_for_both_parts) {
  dsq::train_test data;
  data.train.features.resize(2, 3);
  data.train.features << 2, 4, 6, //
      5, 5, 5;
  data.test.features.resize(2, 1);
  data.test.features << 8, 7;
  dsq::normalize(data, dsq::normalization::unit_range);
  Eigen::MatrixXf expected(2, 3);
  expected << 0, 0.5f, 1, //
      0, 0, 0;
  BOOST_TEST(data.train.features.isApprox(expected));
  BOOST_TEST(data.test.features(0, 0) == 1.5f); // beyond the training range, not clipped
  BOOST_TEST(data.test.features(1, 0) == 2.0f);
}

BOOST_AUTO_TEST_CASE(standardize_gives_zero_mean_unit_deviation_on_train) {
  dsq::train_test data;
  data.train.features.resize(1, 4);
  data.train.features << 1, 2, 3, 6; // mean 3, population deviation sqrt(3.5)
  data.test.features.resize(1, 1);
  data.test.features << 3;
  dsq::normalize(data, dsq::normalization::standardize);
  BOOST_TEST(std::abs(data.train.features.mean()) < 1e-6f);
  BOOST_TEST(std::abs(data.train.features.squaredNorm() / 4 - 1.0f) < 1e-5f);
  BOOST_TEST(data.test.features(0, 0) == 0.0f);
}

BOOST_AUTO_TEST_CASE(split_is_seeded_and_keeps_every_sample_once) {
  dsq::dataset all;
  all.num_classes = 2;
  all.features.resize(1, 10);
  for (int i = 0; i < 10; ++i) {
    all.features(0, i) = float(i);
    all.labels.push_back(i % 2);
  }
  const auto a = dsq::split_train_test(all, 0.3, 1);
  const auto b = dsq::split_train_test(all, 0.3, 1);
  BOOST_TEST(a.test.size() == 3u);
  BOOST_TEST(a.train.size() == 7u);
  BOOST_TEST((a.test.features == b.test.features));
  std::vector<float> seen;
  for (const auto* part : {&a.train, &a.test})
    for (Eigen::Index i = 0; i < part->features.cols(); ++i) {
      seen.push_back(part->features(0, i));
      BOOST_TEST(part->labels[std::size_t(i)] == int(part->features(0, i)) % 2);
    }
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 10; ++i)
    BOOST_TEST(seen[std::size_t(i)] == float(i));
  BOOST_CHECK_THROW(dsq::split_train_test(all, 1.0, 1), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::split_train_test(all, 0.01, 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(labels_are_encoded_in_increasing_order) {
  dsq::dataset data;
  data.labels = {10, -1, 3, 10};
  const auto classes = dsq::encode_labels(data);
  BOOST_TEST(classes == (std::vector<std::int32_t>{-1, 3, 10}), boost::test_tools::per_element());
  BOOST_TEST(data.labels == (std::vector<std::int32_t>{2, 0, 1, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(data.num_classes == 3);
}

BOOST_AUTO_TEST_SUITE_END()
