// A deterministic run's numbers are the same on every machine with the build's instruction set:
// Eigen's product blocking is pinned (model/product_blocking.hpp) instead of read from the
// machine's caches. The stored numbers below fail on any change of summation order.
#include <boost/test/unit_test.hpp>

#include "model/make_model.hpp"
#include "model/product_blocking.hpp"
#include "model/synthetic.hpp"
#include "sgd_training.hpp"

#include <bit>
#include <cstdint>
#include <string>

using namespace dsq;

namespace {

/// What a short run ends with, as bits: the training loss and an FNV-1a hash of the parameters.
struct run_end {
  std::uint32_t loss;
  std::uint64_t params;
};

/// 3 epochs of SGD with `spec` on a 784-feature synthetic set (as wide as MNIST, so that the
/// first layer's product is blocked).
run_end short_run(const std::string& spec) {
  synthetic_options o;
  o.train_size = 600;
  o.test_size = 10;
  o.dimension = 784;
  const auto data = make_synthetic(o, 5);
  const auto m = make_model(spec, o.dimension, o.num_classes);
  const auto x = train_with_sgd(*m, data.train, 3, 32, 0.05f, 7);
  std::uint64_t h = 14695981039346656037ull;
  for (Eigen::Index i = 0; i < x.size(); ++i)
    h = (h ^ std::bit_cast<std::uint32_t>(x[i])) * 1099511628211ull;
  return {std::bit_cast<std::uint32_t>(m->loss(x, data.train.features, data.train.labels)), h};
}

struct cache_sizes {
  std::ptrdiff_t l1, l2, l3;
};

cache_sizes eigen_cache_sizes() {
  cache_sizes c{};
  Eigen::internal::manage_caching_sizes(Eigen::GetAction, &c.l1, &c.l2, &c.l3);
  return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(product_blocking_pinned)

BOOST_AUTO_TEST_CASE(a_model_pins_the_product_blocking_whatever_the_machine_reports) {
  (void)make_model("softmax", 4, 2);
  const auto c = eigen_cache_sizes();
  const product_blocking want;
  BOOST_TEST(c.l1 == want.l1);
  BOOST_TEST(c.l2 == want.l2);
  BOOST_TEST(c.l3 == want.l3);
}

BOOST_AUTO_TEST_CASE(a_short_run_ends_with_the_stored_loss_bit_for_bit) {
  // Stored from the x86-64-v2 build (the only instruction-set level the build has): any
  // machine must print these; a change of summation order (a kernel, the blocking, the
  // instruction set) changes them, which is what this test is for.
  const auto mlp = short_run("mlp:hidden=256,128");
  BOOST_TEST(mlp.loss == 0x3e808304u);
  BOOST_TEST(mlp.params == 0x909317e5b63fe11bull);
  const auto cnn = short_run("cnn:channels=8,16,hidden=64");
  BOOST_TEST(cnn.loss == 0x4012d620u);
  BOOST_TEST(cnn.params == 0x51722e4987cecbe7ull);
}

BOOST_AUTO_TEST_CASE(the_stored_loss_would_differ_under_another_machines_blocking) {
  // What made runs differ between machines: a 32 KiB L1 and 256 KiB L2 (a common Intel core)
  // block the products differently, and the same run ends with other bits. The test above can
  // fail, and the pin is what keeps it from failing on such a machine.
  const auto pinned = short_run("mlp:hidden=256,128").params;
  Eigen::setCpuCacheSizes(32 * 1024, 256 * 1024, 8 * 1024 * 1024);
  const auto other = short_run("mlp:hidden=256,128").params;
  const product_blocking b;
  Eigen::setCpuCacheSizes(b.l1, b.l2, b.l3);
  BOOST_TEST(other != pinned);
}

BOOST_AUTO_TEST_SUITE_END()
