#include <boost/test/unit_test.hpp>

#include <vector>

#include "model/dataset.hpp"

namespace {

dsq::dataset three_samples() {
  dsq::dataset data;
  data.features.resize(2, 3);
  data.features << 1, 2, 3, //
      4, 5, 6;
  data.labels = {0, 1, 2};
  data.num_classes = 3;
  return data;
}

} // namespace

BOOST_AUTO_TEST_SUITE(dataset)

BOOST_AUTO_TEST_CASE(size_and_dimension_describe_the_matrix) {
  const auto data = three_samples();
  BOOST_TEST(data.size() == 3u);
  BOOST_TEST(data.dimension() == 2);
}

BOOST_AUTO_TEST_CASE(subset_takes_samples_in_the_given_order) {
  const std::vector<std::size_t> idx{2, 0, 2};
  const auto sub = dsq::subset(three_samples(), idx);
  Eigen::MatrixXf expected(2, 3);
  expected << 3, 1, 3, //
      6, 4, 6;
  BOOST_TEST((sub.features == expected));
  BOOST_TEST(sub.labels == (std::vector<std::int32_t>{2, 0, 2}), boost::test_tools::per_element());
  BOOST_TEST(sub.num_classes == 3);
  const std::vector<std::size_t> bad{3};
  BOOST_CHECK_THROW(dsq::subset(three_samples(), bad), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(check_consistent_rejects_count_mismatch_and_bad_labels) {
  BOOST_CHECK_NO_THROW(dsq::check_consistent(three_samples(), "data"));
  auto missing_label = three_samples();
  missing_label.labels.pop_back();
  BOOST_CHECK_THROW(dsq::check_consistent(missing_label, "data"), std::invalid_argument);
  auto out_of_range = three_samples();
  out_of_range.labels[1] = 3;
  BOOST_CHECK_THROW(dsq::check_consistent(out_of_range, "data"), std::invalid_argument);
  out_of_range.labels[1] = -1;
  BOOST_CHECK_THROW(dsq::check_consistent(out_of_range, "data"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
