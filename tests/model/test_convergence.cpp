// Plain single-process SGD must train the models to known accuracies: the reference every
// distributed variant is compared against. MNIST is used when it has been fetched
// (scripts/setup.sh); the synthetic problem always runs.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/mnist.hpp"

#include "sgd_training.hpp"

namespace {

// CTest runs the tests from the build tree and sets DSQ_SOURCE_DIR to the repository root.
std::optional<std::filesystem::path> mnist_directory() {
  const char* source = std::getenv("DSQ_SOURCE_DIR");
  if (source != nullptr && *source) {
    const auto dir = std::filesystem::path(source) / "data" / "mnist";
    if (std::filesystem::exists(dir / "train-images-idx3-ubyte"))
      return dir;
  }
  return dsq::find_mnist_directory();
}

const dsq::train_test& mnist() {
  static const dsq::train_test data =
      dsq::load_dataset("mnist:dir=" + mnist_directory().value().string(), 0);
  return data;
}

double train_and_test(const char* model_spec, const dsq::train_test& data, std::size_t epochs,
                      std::size_t batch, float lr) {
  const auto start = std::chrono::steady_clock::now();
  const auto m = dsq::make_model(model_spec, data.train.dimension(), data.train.num_classes);
  const auto params = train_with_sgd(*m, data.train, epochs, batch, lr, 1);
  const auto result = dsq::evaluate(*m, params, data.test);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE(model_spec << " on " << data.description << ": " << epochs
                                << " epoch(s), test accuracy " << result.accuracy << ", loss "
                                << result.loss << " (" << took.count() << " s)");
  return result.accuracy;
}

bool skip_without_mnist() {
  if (mnist_directory())
    return false;
  BOOST_TEST_MESSAGE("MNIST not found under $DSQ_SOURCE_DIR/data/mnist or data/mnist: run "
                     "scripts/setup.sh to fetch it; skipping");
  return true;
}

} // namespace

BOOST_AUTO_TEST_SUITE(convergence)

BOOST_AUTO_TEST_CASE(mlp_learns_synthetic_clusters) {
  const auto data = dsq::load_dataset("synthetic:n=10000,test=2000", 1);
  BOOST_TEST(train_and_test("mlp:hidden=64", data, 3, 32, 0.05f) >= 0.95);
}

BOOST_AUTO_TEST_CASE(mlp_reaches_95_percent_on_mnist_in_one_epoch,
                     *boost::unit_test::precondition([](auto) { return !skip_without_mnist(); })) {
  BOOST_TEST(train_and_test("mlp:hidden=128", mnist(), 1, 32, 0.2f) >= 0.95);
}

BOOST_AUTO_TEST_CASE(softmax_reaches_90_percent_on_mnist_in_one_epoch,
                     *boost::unit_test::precondition([](auto) { return !skip_without_mnist(); })) {
  BOOST_TEST(train_and_test("softmax", mnist(), 1, 32, 0.1f) >= 0.90);
}

BOOST_AUTO_TEST_SUITE_END()
