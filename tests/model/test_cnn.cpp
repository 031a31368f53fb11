// The convolutional network: its loss against a direct (loop by loop) evaluation of the
// documented architecture and parameter layout, its gradient against central finite
// differences on instances small enough to check every coordinate, and its spec.
#include <boost/test/unit_test.hpp>

#include "each_simd_level.hpp"
#include "gradient_check.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/cnn.hpp"
#include "model/data_rng.hpp"
#include "model/make_model.hpp"

namespace {

Eigen::VectorXf initialized_params(const dsq::model& m, std::uint64_t seed) {
  Eigen::VectorXf p(static_cast<Eigen::Index>(m.num_parameters()));
  m.initialize(p, seed);
  // Non-zero biases, so that every term of the gradient counts.
  dsq::data_rng rng(seed + 1000);
  for (auto& v : p)
    v += static_cast<float>(0.1 * rng.normal());
  return p;
}

// The network evaluated by the definition in cnn.hpp, one multiply-add at a time.
double direct_mean_loss(const Eigen::VectorXf& p, const dsq::test::labelled_batch& b,
                        Eigen::Index side, int c1, int c2, int hidden, int classes) {
  std::size_t offset = 0;
  auto take = [&](std::size_t n) {
    const float* at = p.data() + offset;
    offset += n;
    return at;
  };
  const float* w1 = take(std::size_t(c1) * 25);
  const float* b1 = take(std::size_t(c1));
  const float* w2 = take(std::size_t(c2) * c1 * 25);
  const float* b2 = take(std::size_t(c2));
  const Eigen::Index q = side / 4;
  const float* w3 = take(std::size_t(hidden) * c2 * q * q);
  const float* b3 = take(std::size_t(hidden));
  const float* w4 = take(std::size_t(classes) * hidden);
  const float* b4 = take(std::size_t(classes));
  BOOST_REQUIRE(offset == std::size_t(p.size()));

  // maps[channel][row * s + col]
  using maps = std::vector<std::vector<double>>;
  auto conv = [](const maps& in, Eigen::Index s, int out_channels, const float* w,
                 const float* bias) {
    const int in_channels = int(in.size());
    maps out(std::size_t(out_channels), std::vector<double>(std::size_t(s * s)));
    for (int o = 0; o < out_channels; ++o)
      for (Eigen::Index r = 0; r < s; ++r)
        for (Eigen::Index c = 0; c < s; ++c) {
          double sum = bias[o];
          for (int i = 0; i < in_channels; ++i)
            for (int kr = 0; kr < 5; ++kr)
              for (int kc = 0; kc < 5; ++kc) {
                const Eigen::Index rr = r + kr - 2, cc = c + kc - 2;
                if (rr < 0 || rr >= s || cc < 0 || cc >= s)
                  continue;
                // W is (out_channels x 25*in_channels), column-major, channels innermost.
                const Eigen::Index column = (kr * 5 + kc) * in_channels + i;
                sum += double(w[column * out_channels + o]) *
                       in[std::size_t(i)][std::size_t(rr * s + cc)];
              }
          out[std::size_t(o)][std::size_t(r * s + c)] = sum;
        }
    return out;
  };
  auto pool_relu = [](const maps& in, Eigen::Index s) {
    const Eigen::Index h = s / 2;
    maps out(in.size(), std::vector<double>(std::size_t(h * h)));
    for (std::size_t ch = 0; ch < in.size(); ++ch)
      for (Eigen::Index r = 0; r < h; ++r)
        for (Eigen::Index c = 0; c < h; ++c) {
          const auto& m = in[ch];
          const double best =
              std::max({m[std::size_t(2 * r * s + 2 * c)], m[std::size_t(2 * r * s + 2 * c + 1)],
                        m[std::size_t((2 * r + 1) * s + 2 * c)],
                        m[std::size_t((2 * r + 1) * s + 2 * c + 1)]});
          out[ch][std::size_t(r * h + c)] = std::max(best, 0.0);
        }
    return out;
  };

  double total = 0;
  for (Eigen::Index n = 0; n < b.x.cols(); ++n) {
    maps image(1, std::vector<double>(std::size_t(side * side)));
    for (Eigen::Index k = 0; k < side * side; ++k)
      image[0][std::size_t(k)] = b.x(k, n);
    const auto a1 = pool_relu(conv(image, side, c1, w1, b1), side);
    const auto a2 = pool_relu(conv(a1, side / 2, c2, w2, b2), side / 2);
    std::vector<double> features(std::size_t(c2 * q * q));
    for (int ch = 0; ch < c2; ++ch)
      for (Eigen::Index px = 0; px < q * q; ++px)
        features[std::size_t(px * c2 + ch)] = a2[std::size_t(ch)][std::size_t(px)];
    std::vector<double> h(static_cast<std::size_t>(hidden)),
        logits(static_cast<std::size_t>(classes));
    for (int j = 0; j < hidden; ++j) {
      double sum = b3[j];
      for (std::size_t f = 0; f < features.size(); ++f)
        sum += double(w3[f * std::size_t(hidden) + std::size_t(j)]) * features[f];
      h[std::size_t(j)] = std::max(sum, 0.0);
    }
    for (int k = 0; k < classes; ++k) {
      double sum = b4[k];
      for (int j = 0; j < hidden; ++j)
        sum +=
            double(w4[std::size_t(j) * std::size_t(classes) + std::size_t(k)]) * h[std::size_t(j)];
      logits[std::size_t(k)] = sum;
    }
    const double top = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (double l : logits)
      z += std::exp(l - top);
    total += top + std::log(z) - logits[std::size_t(b.y[std::size_t(n)])];
  }
  return total / double(b.x.cols());
}

} // namespace

BOOST_AUTO_TEST_SUITE(cnn)

BOOST_AUTO_TEST_CASE(loss_equals_a_direct_evaluation_of_the_documented_network) {
  const dsq::convolutional_network m(12 * 12, {3, 4}, 6, 5);
  const auto params = initialized_params(m, 21);
  const auto b = dsq::test::random_batch(12 * 12, 4, 5, 22);
  const double expected = direct_mean_loss(params, b, 12, 3, 4, 6, 5);
  dsq::test::at_every_simd_level([&] {
    BOOST_TEST(std::abs(m.loss(params, b.x, b.y) - expected) <= 1e-5 * std::abs(expected));
  });
  BOOST_TEST(expected > 0.1); // not a degenerate network whose loss anything would match
}

BOOST_AUTO_TEST_CASE(gradient_matches_finite_differences) {
  const dsq::convolutional_network m(8 * 8, {2, 3}, 5, 3);
  dsq::test::at_every_simd_level([&] {
    dsq::test::check_gradient(m, initialized_params(m, 1), dsq::test::random_batch(8 * 8, 6, 3, 2));
  });
}

BOOST_AUTO_TEST_CASE(the_second_convolutions_column_blocks_add_up_to_the_images_gradients) {
  // 8 images of 12 x 12 give the second convolution 8 * 6 * 6 = 288 columns: its im2col matrix
  // is made, multiplied and sent back in two blocks (256 + 32), and its weights' gradient is
  // summed over both. One image alone is one block, whose gradient the finite-difference checks
  // above cover (over 8 images of 12 x 12 too many max-pool and ReLU kinks lie within their
  // step). The batch's gradient must be the mean of its images'.
  const dsq::convolutional_network m(12 * 12, {2, 3}, 5, 3);
  const auto params = initialized_params(m, 9);
  const auto b = dsq::test::random_batch(12 * 12, 8, 3, 10);
  const Eigen::Index n = params.size();
  dsq::test::at_every_simd_level([&] {
    Eigen::VectorXf whole(n), one(n), expected = Eigen::VectorXf::Zero(n);
    const float loss = m.loss_and_gradient(params, b.x, b.y, whole);
    double expected_loss = 0;
    for (Eigen::Index i = 0; i < 8; ++i) {
      const Eigen::MatrixXf x = b.x.col(i);
      const std::span<const std::int32_t> y(b.y.data() + i, 1);
      expected_loss += m.loss_and_gradient(params, x, y, one) / 8.0;
      expected += one / 8.0f;
    }
    BOOST_TEST(std::abs(loss - expected_loss) <= 1e-5 * expected_loss);
    BOOST_TEST((whole - expected).norm() <= 1e-5f * expected.norm());
    BOOST_TEST(expected.norm() > 1e-3f);
  });
}

BOOST_AUTO_TEST_CASE(gradient_with_l2_matches_finite_differences) {
  const dsq::convolutional_network m(8 * 8, {2, 2}, 4, 4, 0.3f);
  dsq::test::at_every_simd_level([&] {
    dsq::test::check_gradient(m, initialized_params(m, 3), dsq::test::random_batch(8 * 8, 5, 4, 4));
  });
}

BOOST_AUTO_TEST_CASE(a_batch_larger_than_one_pass_gets_the_weighted_mean_of_its_parts) {
  // 70 samples take three internal passes (32 + 32 + 6); each must count by its share. Finite
  // differences over 70 images would cross too many ReLU and max-pool kinks to be exact.
  const dsq::convolutional_network m(8 * 8, {2, 3}, 4, 3);
  const auto params = initialized_params(m, 5);
  const auto b = dsq::test::random_batch(8 * 8, 70, 3, 6);
  const Eigen::Index n = params.size();
  Eigen::VectorXf whole(n), part(n), expected = Eigen::VectorXf::Zero(n);
  const float loss = m.loss_and_gradient(params, b.x, b.y, whole);
  double expected_loss = 0;
  for (const auto& [start, count] : {std::pair{0, 32}, std::pair{32, 32}, std::pair{64, 6}}) {
    const Eigen::MatrixXf x = b.x.middleCols(start, count);
    const std::span<const std::int32_t> y(b.y.data() + start, std::size_t(count));
    expected_loss += m.loss_and_gradient(params, x, y, part) * count / 70.0;
    expected += part * (float(count) / 70.0f);
  }
  BOOST_TEST(std::abs(loss - expected_loss) <= 1e-5 * expected_loss);
  BOOST_TEST((whole - expected).norm() <= 1e-5f * expected.norm());
  BOOST_TEST(expected.norm() > 1e-3f);
}

BOOST_AUTO_TEST_CASE(evaluate_and_predict_agree_with_the_loss_across_passes) {
  const dsq::convolutional_network m(8 * 8, {2, 3}, 5, 4);
  const auto params = initialized_params(m, 7);
  const auto b = dsq::test::random_batch(8 * 8, 45, 4, 8);
  const auto e = m.evaluate_batch(params, b.x, b.y);
  BOOST_TEST(std::abs(e.loss - direct_mean_loss(params, b, 8, 2, 3, 5, 4)) <= 1e-5 * e.loss);
  std::vector<std::int32_t> predicted(b.y.size());
  m.predict(params, b.x, predicted);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i)
    correct += predicted[i] == b.y[i];
  BOOST_TEST(e.accuracy == double(correct) / double(b.y.size()));
}

BOOST_AUTO_TEST_CASE(make_model_builds_the_spec_and_spec_round_trips) {
  const auto m = dsq::make_model("cnn:channels=4,8,hidden=16", 784, 10);
  // conv1 4x25+4, conv2 8x100+8, dense 16x(8*7*7)+16, output 10x16+10.
  BOOST_TEST(m->num_parameters() == 104u + 808u + 6288u + 170u);
  BOOST_TEST(m->spec() == "cnn:channels=4,8,hidden=16");
  BOOST_TEST(dsq::make_model(m->spec(), 784, 10)->num_parameters() == m->num_parameters());
  const auto defaults = dsq::make_model("cnn", 784, 10);
  BOOST_TEST(defaults->spec() == "cnn:channels=32,64,hidden=1024");
  BOOST_TEST(dsq::make_model("cnn:channels=2,2,hidden=3,l2=0.5", 64, 3)->spec() ==
             "cnn:channels=2,2,hidden=3,l2=0.5");
}

BOOST_AUTO_TEST_CASE(bad_specs_and_shapes_are_rejected) {
  BOOST_CHECK_THROW(dsq::make_model("cnn:channels=4", 784, 10), dsq::model_spec_error);
  BOOST_CHECK_THROW(dsq::make_model("cnn:channels=4,8,8", 784, 10), dsq::model_spec_error);
  BOOST_CHECK_THROW(dsq::make_model("cnn:filters=4", 784, 10), dsq::model_spec_error);
  BOOST_CHECK_THROW(dsq::make_model("cnn:hidden=0", 784, 10), dsq::model_spec_error);
  // 100 = 10 x 10: square, but 10 is not a multiple of 4; 780 is not square.
  BOOST_CHECK_THROW(dsq::make_model("cnn", 100, 10), dsq::model_spec_error);
  BOOST_CHECK_THROW(dsq::make_model("cnn", 780, 10), dsq::model_spec_error);
  const dsq::convolutional_network m(64, {1, 1}, 2, 2);
  Eigen::VectorXf params = Eigen::VectorXf::Zero(Eigen::Index(m.num_parameters()));
  Eigen::MatrixXf wrong = Eigen::MatrixXf::Zero(63, 2);
  std::vector<std::int32_t> y{0, 1};
  BOOST_CHECK_THROW(m.loss(params, wrong, y), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(initialization_is_seeded_he) {
  const dsq::convolutional_network m(784, {8, 16}, 64, 10);
  Eigen::VectorXf a(Eigen::Index(m.num_parameters())), b(a.size()), c(a.size());
  m.initialize(a, 42);
  m.initialize(b, 42);
  m.initialize(c, 43);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  // conv2: 16 x 200 weights with variance 2 / 200, after conv1's 8 x 25 + 8.
  const auto w2 = a.segment(208, 3200);
  BOOST_TEST(std::abs(w2.squaredNorm() / 3200.0 - 0.01) <= 0.1 * 0.01);
  BOOST_TEST(a.segment(208 + 3200, 16).isZero());
}

BOOST_AUTO_TEST_SUITE_END()
