// A deterministic run's numbers are the same on every machine at a given SIMD level: the
// models' products have a fixed summation order (model/kernels/gemm.hpp), and Eigen's product
// blocking, which the rest still uses, is pinned (model/product_blocking.hpp) instead of read
// from the machine's caches. The stored numbers below fail on any change of summation order.
#include <boost/test/unit_test.hpp>

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
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

BOOST_AUTO_TEST_CASE(a_short_run_ends_with_the_stored_loss_bit_for_bit_at_every_level) {
  // The MLP's and the CNN's products are model/kernels/gemm.hpp's: stored per SIMD level (v2
  // multiplies and adds, v3 and v4 fuse them and agree bit for bit); softmax's product is
  // Eigen's, compiled for the baseline, the same at every level. Any machine must print these;
  // a change of summation order (a kernel, the blocking, the instruction set) changes them,
  // which is what this test is for.
  struct stored {
    simd_level level;
    run_end mlp, cnn;
  };
  const stored expected[] = {
      {simd_level::v2, {0x3e808303u, 0xf3174167774f2e1cull}, {0x401233f5u, 0x41fb0633e033e306ull}},
      {simd_level::v3, {0x3e808304u, 0x2262a1643de30b01ull}, {0x401233f5u, 0xfdf83e6ed36576e2ull}},
      {simd_level::v4, {0x3e808304u, 0x2262a1643de30b01ull}, {0x401233f5u, 0xfdf83e6ed36576e2ull}},
  };
  const simd_level before = active_simd_level();
  for (const auto& e : expected) {
    if (!machine_simd_levels().contains(e.level))
      continue;
    BOOST_TEST_CONTEXT("SIMD level " << name(e.level)) {
      force_simd_level(e.level);
      const auto mlp = short_run("mlp:hidden=256,128");
      BOOST_TEST(mlp.loss == e.mlp.loss);
      BOOST_TEST(mlp.params == e.mlp.params);
      const auto cnn = short_run("cnn:channels=8,16,hidden=64");
      BOOST_TEST(cnn.loss == e.cnn.loss);
      BOOST_TEST(cnn.params == e.cnn.params);
      const auto softmax = short_run("softmax");
      BOOST_TEST(softmax.loss == 0x3e30870bu);
      BOOST_TEST(softmax.params == 0x8c1b3bfc53aeadc5ull);
    }
  }
  force_simd_level(before);
}

BOOST_AUTO_TEST_CASE(the_stored_loss_would_differ_under_another_machines_blocking) {
  // What made runs differ between machines: a 32 KiB L1 and 256 KiB L2 (a common Intel core)
  // block Eigen's products differently, and the same run ends with other bits. Softmax's
  // product is still Eigen's: the pin is what keeps its stored numbers above from failing on
  // such a machine.
  const auto pinned = short_run("softmax").params;
  Eigen::setCpuCacheSizes(32 * 1024, 256 * 1024, 8 * 1024 * 1024);
  const auto other = short_run("softmax").params;
  const product_blocking b;
  Eigen::setCpuCacheSizes(b.l1, b.l2, b.l3);
  BOOST_TEST(other != pinned);
}

BOOST_AUTO_TEST_SUITE_END()
