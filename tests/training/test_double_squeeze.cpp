// The equations of docs/algorithm.md, checked on the functions the actors use.
#define BOOST_TEST_MODULE double_squeeze
#include <boost/test/unit_test.hpp>

#include "compression/wire.hpp"
#include "training/double_squeeze.hpp"

#include <random>
#include <vector>

using namespace dsq;

namespace {

constexpr std::size_t dim = 257;

Eigen::VectorXf random_gradient(std::mt19937_64& gen, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  Eigen::VectorXf g(dim);
  for (auto& v : g)
    v = normal(gen);
  return g;
}

std::span<const float> view(const Eigen::VectorXf& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}

Eigen::VectorXf dense(std::span<const float> s) {
  return Eigen::Map<const Eigen::VectorXf>(s.data(), static_cast<Eigen::Index>(s.size()));
}

Eigen::VectorXf dense(const compressed_message& c) {
  Eigen::VectorXf out(static_cast<Eigen::Index>(c.dimension()));
  decompress(c, {out.data(), static_cast<std::size_t>(out.size())});
  return out;
}

/// n workers and a server running Algorithm 1 on given gradients, step by step.
struct simulation {
  std::vector<compression_pass> uplinks;
  compression_pass downlink;
  Eigen::VectorXf x = Eigen::VectorXf::Zero(dim);
  Eigen::VectorXf average = Eigen::VectorXf::Zero(dim);
  Eigen::VectorXf scratch;
  rng_engine rng{7};
  float lr = 0.05f;

  simulation(const std::string& up, bool up_ef, const std::string& down, bool down_ef, int n)
      : downlink(down, down_ef, dim) {
    for (int i = 0; i < n; ++i)
      uplinks.emplace_back(up, up_ef, dim);
  }

  void step(const std::vector<Eigen::VectorXf>& grads) {
    std::vector<compressed_message> pushes;
    for (std::size_t i = 0; i < grads.size(); ++i)
      pushes.push_back(from_bytes(to_bytes(uplinks[i].compress(view(grads[i]), rng))));
    auto c =
        server_aggregate(pushes, 1.0f / static_cast<float>(pushes.size()), downlink, average, rng);
    apply_update(from_bytes(to_bytes(c)), lr, nullptr, x, scratch);
  }

  /// x̃_t = x_t − γ(δ_{t−1} + (1/n) Σ_i δ⁽ⁱ⁾_{t−1})
  Eigen::VectorXf virtual_x() const {
    Eigen::VectorXf worker_mean = Eigen::VectorXf::Zero(dim);
    for (const auto& u : uplinks)
      if (u.has_residual())
        worker_mean += dense(u.residual());
    worker_mean /= static_cast<float>(uplinks.size());
    if (downlink.has_residual())
      worker_mean += dense(downlink.residual());
    return x - lr * worker_mean;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(identity_operator_makes_doublesqueeze_plain_minibatch_sgd) {
  simulation dsq("identity", true, "identity", true, 4);
  simulation sgd("identity", false, "identity", false, 4);
  Eigen::VectorXf reference = Eigen::VectorXf::Zero(dim);
  std::mt19937_64 gen(1);
  for (int t = 0; t < 50; ++t) {
    std::vector<Eigen::VectorXf> grads;
    for (int i = 0; i < 4; ++i)
      grads.push_back(random_gradient(gen, 1.0f));
    dsq.step(grads);
    sgd.step(grads);
    Eigen::VectorXf mean = Eigen::VectorXf::Zero(dim);
    for (const auto& g : grads)
      mean += 0.25f * g;
    reference -= dsq.lr * mean;
    BOOST_REQUIRE(dsq.x == sgd.x); // bit for bit: the residuals stay exactly zero
    BOOST_REQUIRE_SMALL((dsq.x - reference).cwiseAbs().maxCoeff(), 1e-5f);
  }
  BOOST_TEST(dense(dsq.downlink.residual()).cwiseAbs().maxCoeff() == 0.0f);
}

void check_virtual_sequence(const std::string& op) {
  simulation dsq(op, true, op, true, 4);
  std::mt19937_64 gen(2);
  Eigen::VectorXf uncompressed = dsq.virtual_x(); // x̃_0 = x_0: residuals start at zero
  double worst = 0;
  for (int t = 0; t < 300; ++t) {
    std::vector<Eigen::VectorXf> grads;
    Eigen::VectorXf mean = Eigen::VectorXf::Zero(dim);
    for (int i = 0; i < 4; ++i) {
      grads.push_back(random_gradient(gen, 1.0f));
      mean += 0.25f * grads.back();
    }
    dsq.step(grads);
    uncompressed -= dsq.lr * mean; // x̃_{t+1} = x̃_t − γ (1/n) Σ_i g⁽ⁱ⁾_t
    double scale = std::max(1.0f, uncompressed.cwiseAbs().maxCoeff());
    worst = std::max(worst, (dsq.virtual_x() - uncompressed).cwiseAbs().maxCoeff() / scale);
  }
  // Only float rounding separates the two sequences; a lost coordinate would cost ≈ γ·|g| ≈ 0.05.
  BOOST_TEST(worst < 2e-4, op << ": virtual sequence drifted by " << worst);
  // And the residuals are really in play: x itself is not the uncompressed sequence.
  BOOST_TEST((dsq.x - uncompressed).cwiseAbs().maxCoeff() > 1e-3);
}

BOOST_AUTO_TEST_CASE(virtual_sequence_follows_uncompressed_sgd_with_sign) {
  check_virtual_sequence("sign");
}

BOOST_AUTO_TEST_CASE(virtual_sequence_follows_uncompressed_sgd_with_topk) {
  check_virtual_sequence("topk:k=0.05");
}

BOOST_AUTO_TEST_CASE(virtual_sequence_follows_uncompressed_sgd_with_qsgd) {
  // Error feedback needs E‖C[v] − v‖² < ‖v‖²: qsgd with enough levels (s² ≫ √d).
  check_virtual_sequence("qsgd:s=64");
}

BOOST_AUTO_TEST_CASE(without_residuals_compression_loses_information) {
  // The same check fails for the `compressed` baseline: what C drops is gone for good.
  simulation plain("topk:k=0.05", false, "topk:k=0.05", false, 4);
  std::mt19937_64 gen(3);
  Eigen::VectorXf uncompressed = Eigen::VectorXf::Zero(dim);
  for (int t = 0; t < 100; ++t) {
    std::vector<Eigen::VectorXf> grads;
    Eigen::VectorXf mean = Eigen::VectorXf::Zero(dim);
    for (int i = 0; i < 4; ++i) {
      grads.push_back(random_gradient(gen, 1.0f));
      mean += 0.25f * grads.back();
    }
    plain.step(grads);
    uncompressed -= plain.lr * mean;
  }
  BOOST_TEST((plain.virtual_x() - uncompressed).cwiseAbs().maxCoeff() > 0.1);
}

BOOST_AUTO_TEST_CASE(server_residual_bookkeeping_c_plus_delta_equals_v) {
  compression_pass down("sign", true, dim);
  Eigen::VectorXf average(dim);
  rng_engine rng{5};
  std::mt19937_64 gen(4);
  Eigen::VectorXf delta_before = Eigen::VectorXf::Zero(dim);
  for (int t = 0; t < 20; ++t) {
    std::vector<compressed_message> pushes;
    std::vector<Eigen::VectorXf> grads;
    for (int i = 0; i < 3; ++i) {
      grads.push_back(random_gradient(gen, 1.0f));
      pushes.push_back(compression_pass("identity", false, dim).compress(view(grads.back()), rng));
    }
    auto c = server_aggregate(pushes, 1.0f / static_cast<float>(pushes.size()), down, average, rng);
    Eigen::VectorXf v = (grads[0] + grads[1] + grads[2]) / 3.0f + delta_before;
    Eigen::VectorXf delta = dense(down.residual());
    BOOST_REQUIRE_SMALL(((dense(c) + delta) - v).cwiseAbs().maxCoeff(), 1e-5f);
    delta_before = delta;
  }
}

BOOST_AUTO_TEST_CASE(apply_update_with_zero_free_momentum_matches_plain_step) {
  rng_engine rng{1};
  std::mt19937_64 gen(6);
  auto g = random_gradient(gen, 1.0f);
  auto c = compression_pass("topk:k=0.1", false, dim).compress(view(g), rng);
  Eigen::VectorXf x1 = Eigen::VectorXf::Ones(dim), x2 = x1, scratch;
  apply_update(c, 0.1f, nullptr, x1, scratch);
  momentum heavy_ball(dim, 0.0f);
  apply_update(c, 0.1f, &heavy_ball, x2, scratch);
  BOOST_TEST((x1 - x2).cwiseAbs().maxCoeff() == 0.0f);
  BOOST_TEST((x1 - Eigen::VectorXf::Ones(dim)).cwiseAbs().maxCoeff() > 0.0f);
}
