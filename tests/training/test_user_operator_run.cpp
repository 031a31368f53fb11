// A run with --compressor=NAME:... where NAME is an operator the program registered: the
// engines of a sync run (workers' compute and apply, the server's push check, aggregate and
// apply, every message through the wire format) train with it, and a user operator that is the
// identity gives the run that identity gives, bit for bit.
#define BOOST_TEST_MODULE user_operator_run
#include <boost/test/unit_test.hpp>

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "config/run_config.hpp"
#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "synthetic_setup.hpp"
#include "tests/support/user_operator_parts.hpp"
#include "training/push_check.hpp"
#include "training/training_setup.hpp"
#include "training/update_engine.hpp"
#include "training/worker_engine.hpp"
#include <dsq/operator.hpp>
#include <dsq/spec_error.hpp>

#include <cmath>
#include <cstring>
#include <mutex>

using namespace dsq;

namespace {

/// C[v] = gain (‖v‖₁ / d) sign(v) with one f32 scale and one byte per sign: biased, and lossy
/// enough that the residuals matter.
class user_sign final : public custom_operator {
public:
  explicit user_sign(float gain) : gain_(gain) {}
  std::size_t payload_bytes(std::uint32_t d) const override { return 4 + std::size_t{d}; }
  void encode(std::span<const float> v, rng_engine&,
              std::span<std::uint8_t> payload) const override {
    const float scale = test::sign_scale(v, gain_);
    std::memcpy(payload.data(), &scale, 4);
    for (std::size_t j = 0; j < v.size(); ++j)
      payload[4 + j] = v[j] < 0 ? 1 : 0;
  }
  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    float scale;
    std::memcpy(&scale, payload.data(), 4);
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (payload[4 + j] > 1)
        throw std::invalid_argument("user_sign: a sign byte other than 0 or 1");
      out[j] = payload[4 + j] != 0 ? -scale : scale;
    }
  }
  bool unbiased() const override { return false; }

private:
  float gain_;
};

struct registered {
  registered() {
    static std::once_flag once;
    std::call_once(once, [] {
      // C[v] = v through an opaque payload: what a user writes, none of the built-ins' code.
      register_operator("user_identity",
                        [](const spec_args&) { return std::make_unique<test::plain>(); });
      register_operator("user_sign", [](const spec_args& args) {
        return std::make_unique<user_sign>(test::positive_gain(args));
      });
    });
  }
};

training_setup small_setup() {
  return synthetic_setup(200, 50, 10, 3, 3);
}

/// A sync run of `workers` workers for `steps` steps with --compressor=`spec`, every message
/// through the wire format and every push through the server's check; returns the server's x
/// after each step.
std::vector<Eigen::VectorXf> sync_run(const std::string& spec, int workers, int steps) {
  run_config cfg;
  cfg.mode = "sync";
  cfg.compressor = spec;
  cfg.batch = 8;
  cfg.seed = 5;
  cfg.workers = static_cast<std::uint32_t>(workers);
  validate(cfg); // as the command line checks --compressor
  const auto setup = small_setup();
  update_engine server{cfg, *setup.net};
  push_check check{resolve_method(cfg).uplink, server.dim(), 0};
  std::vector<worker_engine> engines;
  for (int i = 0; i < workers; ++i) {
    const auto x = server.x();
    engines.emplace_back(
        cfg, setup, static_cast<std::uint32_t>(i), 0,
        std::span<const float>{x.data(), static_cast<std::size_t>(x.size())},
        std::span<const float>{},
        shard_assignment{0, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(workers)});
  }
  std::vector<Eigen::VectorXf> trajectory;
  for (int t = 0; t < steps; ++t) {
    std::vector<compressed_message> pushes;
    for (auto& w : engines)
      pushes.push_back(check.accept(w.compute().payload));
    const auto update = to_bytes(server.aggregate(pushes, 1.0f / static_cast<float>(workers)));
    server.apply(from_bytes(update));
    for (auto& w : engines) {
      w.apply(update);
      BOOST_REQUIRE(w.x() == server.x()); // every replica applies what the server applied
    }
    trajectory.push_back(server.x());
  }
  return trajectory;
}

double test_loss(const Eigen::VectorXf& x) {
  const auto setup = small_setup();
  return evaluate(*setup.net, x, setup.data->test).loss;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(user_operator_run, registered)

BOOST_AUTO_TEST_CASE(a_user_identity_run_is_the_identity_run_bit_for_bit) {
  const auto user = sync_run("user_identity", 3, 40);
  const auto builtin = sync_run("identity", 3, 40);
  BOOST_TEST_REQUIRE(user.size() == builtin.size());
  for (std::size_t t = 0; t < user.size(); ++t)
    BOOST_REQUIRE_MESSAGE(user[t] == builtin[t], "step " << t);
  BOOST_TEST(test_loss(user.back()) < 0.9 * test_loss(Eigen::VectorXf::Zero(user[0].size())));
}

BOOST_AUTO_TEST_CASE(a_lossy_user_operator_trains_with_its_residuals) {
  const auto run = sync_run("user_sign:gain=1", 3, 60);
  const auto exact = sync_run("identity", 3, 60);
  const double start = test_loss(Eigen::VectorXf::Zero(run[0].size()));
  BOOST_TEST_MESSAGE("test loss: start " << start << ", user_sign " << test_loss(run.back())
                                         << ", identity " << test_loss(exact.back()));
  BOOST_TEST(test_loss(run.back()) < 0.9 * start);
  // It is its own operator, not the identity under another name.
  BOOST_TEST((run.back() - exact.back()).cwiseAbs().maxCoeff() > 1e-3);
}

BOOST_AUTO_TEST_CASE(pushes_of_another_operator_or_spec_are_refused_by_the_server) {
  const std::size_t d = 16;
  std::vector<float> g(d, 0.25f);
  const auto encode = [&](const std::string& spec) {
    rng_engine rng{1};
    return to_bytes(make_compressor(spec)->compress(g, rng));
  };
  push_check user{"user_sign:gain=2", d, 0};
  BOOST_CHECK_NO_THROW(user.accept(encode("user_sign:gain=2")));
  BOOST_CHECK_NO_THROW(user.accept(encode("user_sign: gain=2"))); // the same canonical spec
  for (const std::string other : {"user_sign", "user_sign:gain=3", "user_identity", "sign"}) {
    try {
      user.accept(encode(other));
      BOOST_ERROR(other << " was accepted by a user_sign:gain=2 run");
    } catch (const push_rejected& e) {
      BOOST_TEST((e.why() == push_rejected::reason::operator_mismatch), other);
      BOOST_TEST(std::string{e.what()}.find("user_sign:gain=2") != std::string::npos, e.what());
    }
  }
  push_check builtin{"sign", d, 0};
  BOOST_CHECK_THROW(builtin.accept(encode("user_sign:gain=2")), push_rejected);
}

BOOST_AUTO_TEST_CASE(a_payload_its_operator_refuses_is_a_corrupt_push_and_a_refused_update) {
  run_config cfg;
  cfg.compressor = "user_sign";
  cfg.batch = 8;
  const auto setup = small_setup();
  update_engine server{cfg, *setup.net};
  std::vector<float> g(server.dim(), 0.5f);
  rng_engine rng{1};
  auto bad = to_bytes(make_compressor("user_sign")->compress(g, rng));
  bad.back() = 2; // a sign byte the operator's decoder refuses; its size is right
  push_check check{"user_sign", server.dim(), 0};
  try {
    check.accept(bad);
    BOOST_ERROR("a payload its operator refuses was accepted");
  } catch (const push_rejected& e) {
    BOOST_TEST((e.why() == push_rejected::reason::corrupt));
    BOOST_TEST(std::string{e.what()}.find("operator 'user_sign' refused its payload") !=
                   std::string::npos,
               e.what());
  }
  const auto x = server.x();
  worker_engine w{
      cfg, setup, 0, 0, {x.data(), static_cast<std::size_t>(x.size())}, {}, shard_assignment{}};
  BOOST_CHECK_THROW(w.apply(bad), std::runtime_error);
  BOOST_TEST((w.x() == x)); // untouched
  BOOST_TEST(w.version() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
