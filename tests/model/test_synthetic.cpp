#include <boost/test/unit_test.hpp>

#include "model/make_model.hpp"
#include "model/synthetic.hpp"

#include "sgd_training.hpp"

BOOST_AUTO_TEST_SUITE(synthetic)

BOOST_AUTO_TEST_CASE(same_seed_gives_the_same_data) {
  dsq::synthetic_options options;
  options.train_size = 500;
  options.test_size = 100;
  const auto a = dsq::make_synthetic(options, 5);
  const auto b = dsq::make_synthetic(options, 5);
  BOOST_TEST((a.train.features == b.train.features));
  BOOST_TEST(a.train.labels == b.train.labels, boost::test_tools::per_element());
  BOOST_TEST((a.test.features == b.test.features));
}

BOOST_AUTO_TEST_CASE(different_seeds_give_different_data) {
  dsq::synthetic_options options;
  options.train_size = 500;
  options.test_size = 100;
  const auto a = dsq::make_synthetic(options, 5);
  const auto c = dsq::make_synthetic(options, 6);
  BOOST_TEST((a.train.features != c.train.features));
}

BOOST_AUTO_TEST_CASE(test_size_does_not_change_the_training_set) {
  dsq::synthetic_options options;
  options.train_size = 300;
  options.test_size = 50;
  const auto a = dsq::make_synthetic(options, 9);
  options.test_size = 80;
  const auto b = dsq::make_synthetic(options, 9);
  BOOST_TEST((a.train.features == b.train.features));
}

BOOST_AUTO_TEST_CASE(shapes_and_labels_follow_the_options) {
  dsq::synthetic_options options;
  options.train_size = 2000;
  options.test_size = 10;
  options.dimension = 7;
  options.num_classes = 4;
  const auto data = dsq::make_synthetic(options, 1);
  BOOST_TEST(data.train.features.rows() == 7);
  BOOST_TEST(data.train.features.cols() == 2000);
  BOOST_TEST(data.train.num_classes == 4);
  std::vector<int> counts(4, 0);
  for (auto y : data.train.labels)
    ++counts.at(std::size_t(y));
  for (auto c : counts) // uniform classes: 500 expected each
    BOOST_TEST((c > 400 && c < 600));
}

BOOST_AUTO_TEST_CASE(synthetic_data_is_learnable_by_softmax_regression) {
  dsq::synthetic_options options;
  options.train_size = 4000;
  options.test_size = 1000;
  const auto data = dsq::make_synthetic(options, 3);
  const auto m = dsq::make_model("softmax", data.train.dimension(), data.train.num_classes);
  Eigen::VectorXf untrained(static_cast<Eigen::Index>(m->num_parameters()));
  m->initialize(untrained, 1);
  const auto params = train_with_sgd(*m, data.train, 3, 32, 0.05f, 1);
  const auto before = dsq::evaluate(*m, untrained, data.test);
  const auto after = dsq::evaluate(*m, params, data.test);
  BOOST_TEST_MESSAGE("synthetic softmax: test accuracy " << after.accuracy << ", loss "
                                                         << before.loss << " -> " << after.loss);
  BOOST_TEST(after.accuracy >= 0.9);
  BOOST_TEST(after.loss < 0.5 * before.loss);
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  dsq::synthetic_options options;
  options.num_classes = 1;
  BOOST_CHECK_THROW(dsq::make_synthetic(options, 0), std::invalid_argument);
  options = {};
  options.train_size = 0;
  BOOST_CHECK_THROW(dsq::make_synthetic(options, 0), std::invalid_argument);
  options = {};
  options.noise = -1;
  BOOST_CHECK_THROW(dsq::make_synthetic(options, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
