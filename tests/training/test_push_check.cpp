// Validation of pushes before they touch the model: operator, dimension, finiteness, norm.
#define BOOST_TEST_MODULE push_check
#include <boost/test/unit_test.hpp>

#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "training/divergence_probe.hpp"
#include "training/push_check.hpp"
#include "training/sliding_median.hpp"
#include "training/training_setup.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <vector>

using namespace dsq;

namespace {

std::vector<std::uint8_t> encode(const std::string& spec, std::vector<float> v) {
  rng_engine rng{1};
  return to_bytes(make_compressor(spec)->compress(v, rng));
}

std::vector<float> gradient(std::size_t d, float scale) {
  std::vector<float> g(d);
  for (std::size_t i = 0; i < d; ++i)
    g[i] = scale * static_cast<float>(static_cast<int>(i % 7) - 3);
  return g;
}

bool rejected_with(push_check& check, const std::vector<std::uint8_t>& bytes,
                   const std::string& words) {
  try {
    check.accept(bytes);
  } catch (const push_rejected& e) {
    BOOST_TEST_MESSAGE("rejected: " << e.what());
    return std::string{e.what()}.find(words) != std::string::npos;
  }
  return false;
}

/// Softmax regression on `dataset`, as a run loads it.
training_setup softmax_on(const std::string& dataset) {
  run_config cfg;
  cfg.model = "softmax";
  cfg.dataset = dataset;
  return load_training(cfg);
}

} // namespace

BOOST_AUTO_TEST_CASE(honest_pushes_of_every_operator_pass) {
  for (std::string spec : {"identity", "fp16", "sign", "sign:block=16", "topk:k=0.1",
                           "randomk:k=0.1,unbiased=1", "qsgd:s=4"}) {
    push_check check{spec, 100, 0};
    for (int i = 0; i < 20; ++i) {
      try {
        check.accept(encode(spec, gradient(100, 0.1f * static_cast<float>(i + 1))));
      } catch (const std::exception& e) {
        BOOST_ERROR(spec << ": " << e.what());
      }
    }
  }
}

// The norm the bound judges is ‖C[v]‖₂ of what the server will apply: the norm of the decoded
// push, whether it is read from the values sent (identity, top-k, random-k, sign's block scales)
// or from a decoding (fp16, qsgd).
BOOST_AUTO_TEST_CASE(the_norm_is_that_of_the_decoded_push) {
  for (std::string spec : {"identity", "fp16", "sign", "sign:block=16", "topk:k=0.1",
                           "randomk:k=0.1,unbiased=1", "qsgd:s=4"}) {
    push_check check{spec, 1000, 0};
    const auto bytes = encode(spec, gradient(1000, 0.37f));
    std::vector<float> decoded(1000);
    decompress(from_bytes(bytes), decoded);
    double sum = 0;
    for (float v : decoded)
      sum += static_cast<double>(v) * static_cast<double>(v);
    BOOST_TEST(check.check(bytes).norm == std::sqrt(sum), boost::test_tools::tolerance(1e-9));
  }
}

BOOST_AUTO_TEST_CASE(another_operator_or_its_parameters_are_refused) {
  push_check check{"sign", 100, 0};
  BOOST_TEST(rejected_with(check, encode("identity", gradient(100, 1)), "identity"));
  BOOST_TEST(rejected_with(check, encode("sign:block=16", gradient(100, 1)), "block"));
  push_check topk{"topk:k=0.1", 100, 0};
  BOOST_TEST(rejected_with(topk, encode("topk:k=0.2", gradient(100, 1)), "topk"));
}

BOOST_AUTO_TEST_CASE(wrong_dimension_and_garbage_are_refused) {
  push_check check{"sign", 100, 0};
  BOOST_TEST(rejected_with(check, encode("sign", gradient(50, 1)), "dimension"));
  BOOST_TEST(rejected_with(check, {1, 2, 3, 4, 5}, "corrupt"));
}

BOOST_AUTO_TEST_CASE(nan_and_infinity_are_refused_for_every_operator) {
  for (std::string spec : {"identity", "fp16", "sign", "topk:k=0.5", "qsgd:s=4"}) {
    push_check check{spec, 8, 0};
    auto g = gradient(8, 1);
    g[3] = std::numeric_limits<float>::quiet_NaN();
    BOOST_TEST(rejected_with(check, encode(spec, g), "NaN"), spec);
    g[3] = std::numeric_limits<float>::infinity();
    BOOST_TEST(rejected_with(check, encode(spec, g), "infinite"), spec);
  }
}

BOOST_AUTO_TEST_CASE(a_huge_push_is_refused_by_the_absolute_and_the_automatic_bound) {
  push_check fixed{"identity", 100, 50.0};
  BOOST_CHECK_NO_THROW(fixed.accept(encode("identity", gradient(100, 1))));
  BOOST_TEST(rejected_with(fixed, encode("identity", gradient(100, 100)), "bound"));
  push_check automatic{"sign", 100, 0};
  BOOST_TEST(rejected_with(automatic, encode("sign", gradient(100, 1e30f)), "bound"));
  for (int i = 0; i < 20; ++i)
    automatic.accept(encode("sign", gradient(100, 1)));
  BOOST_TEST(automatic.bound() < 1e6); // 10^4 x the median norm (about 17)
  BOOST_TEST(rejected_with(automatic, encode("sign", gradient(100, 1e5f)), "bound"));
  BOOST_CHECK_NO_THROW(automatic.accept(encode("sign", gradient(100, 20))));
}

// As a model fits its data, most minibatch gradients shrink by orders of magnitude, and a minibatch
// that is not fitted yet still gives a gradient of the first steps' scale. Softmax on a separable
// synthetic set with batch 4 did that (norms of about 5e-4, then 11): a bound that followed the
// current median refused the honest push and ended the run as diverged.
BOOST_AUTO_TEST_CASE(the_automatic_bound_does_not_shrink_as_gradients_vanish) {
  push_check check{"sign", 100, 0};
  for (int i = 0; i < 64; ++i)
    check.accept(encode("sign", gradient(100, 1)));
  const double early = check.bound();
  for (int i = 0; i < 500; ++i) // the window now holds only tiny norms
    check.accept(encode("sign", gradient(100, 1e-5f)));
  BOOST_TEST(check.recent_norms().back() < 1e-3);
  BOOST_TEST(check.bound() == early);
  BOOST_CHECK_NO_THROW(check.accept(encode("sign", gradient(100, 2))));
  BOOST_TEST(rejected_with(check, encode("sign", gradient(100, 1e5f)), "bound"));
}

// One of two workers pushing zeros (nothing to say, or on purpose) makes the median norm 0: the
// bound must not shrink to nothing and expel the honest worker.
BOOST_AUTO_TEST_CASE(zero_pushes_do_not_shrink_the_automatic_bound_to_nothing) {
  push_check check{"sign", 100, 0};
  for (int i = 0; i < 64; ++i)
    check.accept(encode("sign", std::vector<float>(100, 0.0f)));
  BOOST_TEST(check.bound() == push_norm_cold_bound);
  BOOST_CHECK_NO_THROW(check.accept(encode("sign", gradient(100, 3))));
  BOOST_TEST(rejected_with(check, encode("sign", gradient(100, 1e30f)), "bound"));
}

// The server's own model tells a run that blows up from a bad worker: a model trained a little is
// sound, one scaled far beyond it or with NaN in it has diverged.
BOOST_AUTO_TEST_CASE(the_probe_tells_a_diverged_model_from_a_sound_one) {
  const auto setup = softmax_on("synthetic:n=1000,d=20,classes=4");
  divergence_probe probe{setup.net, setup.data->train, 1};
  BOOST_TEST(probe.samples() == probe_samples);
  Eigen::VectorXf x(static_cast<Eigen::Index>(setup.net->num_parameters()));
  setup.net->initialize(x, 1);
  BOOST_TEST(probe.loss(x) == probe.initial_loss());
  BOOST_TEST(!probe.diverged(probe.loss(x)));
  // Plain gradient descent on the probe's own set: its loss falls, the model stays sound.
  Eigen::VectorXf g(x.size());
  const auto& train = setup.data->train;
  for (int i = 0; i < 50; ++i) {
    setup.net->loss_and_gradient(x, train.features, train.labels, g);
    x -= 0.5f * g;
  }
  BOOST_TEST(probe.loss(x) < probe.initial_loss());
  BOOST_TEST(!probe.diverged(probe.loss(x)));
  BOOST_TEST(probe.diverged(probe.loss(Eigen::VectorXf(-1e4f * x))));
  x[0] = std::numeric_limits<float>::quiet_NaN();
  BOOST_TEST(probe.diverged(probe.loss(x)));
  BOOST_TEST(probe.diverged(std::numeric_limits<double>::infinity()));
}

// A data set smaller than the probe is all of the probe.
BOOST_AUTO_TEST_CASE(the_probe_of_a_small_set_holds_all_of_it) {
  const auto setup = softmax_on("synthetic:n=100,d=5,classes=3");
  divergence_probe probe{setup.net, setup.data->train, 1};
  BOOST_TEST(probe.samples() == setup.data->train.size());
  BOOST_TEST(std::isfinite(probe.initial_loss()));
}

BOOST_AUTO_TEST_CASE(the_sliding_median_is_the_median_of_the_last_values_added) {
  // Against the obvious implementation (copy the window, partially sort it), over a stream with
  // many repeats so that equal values enter and leave the window.
  std::mt19937 rng{7};
  std::uniform_int_distribution<int> pick{0, 40};
  sliding_median<double, 16> window;
  std::deque<double> kept;
  for (int i = 0; i < 2000; ++i) {
    const double v = pick(rng) / 4.0;
    window.add(v);
    kept.push_back(v);
    if (kept.size() > 16)
      kept.pop_front();
    std::vector<double> sorted(kept.begin(), kept.end());
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    BOOST_REQUIRE_EQUAL(window.size(), kept.size());
    BOOST_REQUIRE_EQUAL(window.median(), sorted[sorted.size() / 2]);
    const auto in_order = window.in_arrival_order();
    BOOST_REQUIRE(std::equal(in_order.begin(), in_order.end(), kept.begin(), kept.end()));
  }
}

// A restarted server continues the automatic bound from its checkpoint (push_norms) instead of
// going back to the cold bound, under which a push 10^6 times too large would get in.
BOOST_AUTO_TEST_CASE(a_restored_norm_history_continues_the_automatic_bound) {
  push_check before{"sign", 100, 0};
  for (int i = 0; i < 80; ++i) // more than the window: the oldest have left it
    before.accept(encode("sign", gradient(100, 1.0f + 0.1f * static_cast<float>(i % 9))));
  push_check after{"sign", 100, 0};
  BOOST_TEST(after.bound() == push_norm_cold_bound);
  after.restore_norms(before.recent_norms(), before.peak_median());
  BOOST_TEST(after.recent_norms() == before.recent_norms());
  BOOST_TEST(after.recent_norms().size() == push_norm_window);
  BOOST_TEST(after.peak_median() == before.peak_median());
  BOOST_TEST(after.bound() == before.bound());
  BOOST_TEST(rejected_with(after, encode("sign", gradient(100, 1e5f)), "bound"));
  // Both go on alike: the same push ages the same oldest norm out of either window.
  before.accept(encode("sign", gradient(100, 50)));
  after.accept(encode("sign", gradient(100, 50)));
  BOOST_TEST(after.recent_norms() == before.recent_norms());
  BOOST_CHECK_THROW(after.restore_norms(std::vector<double>{-1.0}, 0), std::invalid_argument);
  BOOST_CHECK_THROW(after.restore_norms(std::vector<double>{std::nan("")}, 0),
                    std::invalid_argument);
  BOOST_CHECK_THROW(after.restore_norms(std::vector<double>{1.0}, -1.0), std::invalid_argument);
}

// The peak is part of what a restart restores: from the window alone, a run whose gradients have
// shrunk would come back with a bound that its next honest spike exceeds. A checkpoint from
// before the peak was kept (peak 0) restarts from the window's median.
BOOST_AUTO_TEST_CASE(a_restored_peak_keeps_the_bound_of_the_run) {
  push_check before{"sign", 100, 0};
  for (int i = 0; i < 64; ++i)
    before.accept(encode("sign", gradient(100, 1)));
  for (int i = 0; i < 200; ++i)
    before.accept(encode("sign", gradient(100, 1e-5f)));
  push_check after{"sign", 100, 0};
  after.restore_norms(before.recent_norms(), before.peak_median());
  BOOST_TEST(after.bound() == before.bound());
  BOOST_CHECK_NO_THROW(after.accept(encode("sign", gradient(100, 1))));
  push_check old_file{"sign", 100, 0};
  old_file.restore_norms(before.recent_norms(), 0);
  BOOST_TEST(old_file.peak_median() == old_file.recent_norms().back());
  BOOST_TEST(old_file.bound() < before.bound());
}
