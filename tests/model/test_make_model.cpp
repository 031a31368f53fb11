#include <boost/test/unit_test.hpp>

#include <string>

#include "model/data_rng.hpp"
#include "model/make_model.hpp"
#include "model/multilayer_perceptron.hpp"

namespace {

std::string model_error_of(const char* spec) {
  try {
    dsq::make_model(spec, 10, 3);
  } catch (const dsq::model_spec_error& e) {
    return e.what();
  }
  return "(no model_spec_error)";
}

} // namespace

BOOST_AUTO_TEST_SUITE(make_model)

BOOST_AUTO_TEST_CASE(softmax_has_weights_and_biases) {
  const auto m = dsq::make_model("softmax", 784, 10);
  BOOST_TEST(m->num_parameters() == 7850u);
  BOOST_TEST(m->spec() == "softmax");
}

BOOST_AUTO_TEST_CASE(mlp_defaults_to_256_128) {
  const auto m = dsq::make_model("mlp", 784, 10);
  BOOST_TEST(m->num_parameters() == 784u * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  BOOST_TEST(m->spec() == "mlp:hidden=256,128");
}

BOOST_AUTO_TEST_CASE(hidden_sizes_and_l2_are_parsed) {
  const auto m = dsq::make_model("mlp:hidden=64,32,16,l2=1e-4", 10, 3);
  const auto& mlp = dynamic_cast<const dsq::multilayer_perceptron&>(*m);
  BOOST_TEST(mlp.hidden_sizes() == (std::vector<Eigen::Index>{64, 32, 16}),
             boost::test_tools::per_element());
  BOOST_TEST(m->spec() == "mlp:hidden=64,32,16,l2=0.0001");
  BOOST_TEST(dsq::make_model("softmax:l2=0.5", 10, 3)->spec() == "softmax:l2=0.5");
}

BOOST_AUTO_TEST_CASE(spec_round_trips_through_make_model) {
  for (const char* spec : {"softmax", "softmax:l2=0.001", "mlp:hidden=5", "mlp:hidden=7,3,l2=2"})
    BOOST_TEST(dsq::make_model(dsq::make_model(spec, 4, 2)->spec(), 4, 2)->spec() == spec);
}

BOOST_AUTO_TEST_CASE(bad_specs_are_model_spec_errors_naming_spec_and_models) {
  for (const char* spec : {"resnet", "mlp:hidden=0", "mlp:hidden=a,b", "softmax:l2=-1",
                           "mlp:width=3", "softmax:hidden=3", ""}) {
    const auto message = model_error_of(spec);
    BOOST_TEST(message.find("known models: softmax") != std::string::npos, message);
    BOOST_TEST(message.find(std::string("'") + spec + "'") != std::string::npos, message);
  }
  BOOST_CHECK_THROW(dsq::make_model("softmax", 10, 1), dsq::model_spec_error);
  BOOST_CHECK_THROW(dsq::make_model("resnet", 10, 3), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(evaluate_in_chunks_equals_one_big_batch) {
  // 2500 samples: three chunks of the evaluator, the last one partial.
  const Eigen::Index n = 2500;
  dsq::dataset data;
  data.num_classes = 3;
  data.features.resize(6, n);
  dsq::data_rng rng(4);
  for (auto& v : data.features.reshaped())
    v = static_cast<float>(rng.normal());
  for (Eigen::Index i = 0; i < n; ++i)
    data.labels.push_back(static_cast<std::int32_t>(rng.below(3)));
  for (const char* spec : {"softmax:l2=0.1", "mlp:hidden=8,l2=0.1"}) {
    const auto m = dsq::make_model(spec, 6, 3);
    Eigen::VectorXf params(Eigen::Index(m->num_parameters()));
    m->initialize(params, 2);
    params.array() += 0.1f; // away from the all-zero softmax start, where every class ties
    const auto e = dsq::evaluate(*m, params, data);
    BOOST_TEST(e.loss == double(m->loss(params, data.features, data.labels)),
               boost::test_tools::tolerance(1e-5));
    std::vector<std::int32_t> predicted(std::size_t(n), 0);
    m->predict(params, data.features, predicted);
    double correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i)
      correct += predicted[i] == data.labels[i];
    BOOST_TEST(e.accuracy == correct / double(n), boost::test_tools::tolerance(1e-9));
    BOOST_TEST((e.accuracy > 0.0 && e.accuracy < 1.0));
  }
}

BOOST_AUTO_TEST_SUITE_END()
