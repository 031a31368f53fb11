// The DoubleSqueeze math of a sharded run (--servers=K), driven directly as the coordinator
// drives it, without actors: n worker engines compute on the same x_t, every shard's
// update_engine aggregates its slices of the pushes and compresses its slice of the update,
// and every worker applies the K slice updates. Each case compares a sharded run with the
// unsharded run that docs/compression.md ("Sharded operators") says it equals, bit for bit.
#define BOOST_TEST_MODULE shard_equality
#include <boost/test/unit_test.hpp>

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "synthetic_setup.hpp"
#include "tests/support/same_bits.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/sliced_payload.hpp"
#include "training/update_engine.hpp"
#include "training/worker_engine.hpp"

#include <dsq/operator.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;

namespace {

constexpr std::uint32_t workers = 3;
constexpr std::size_t steps = 20;

/// 90 samples of 11 features in 3 classes and a softmax model: d = 11·3 + 3 = 36, which 2 and
/// 3 shards split into equal ranges.
training_setup small_setup() {
  return synthetic_setup(90, 5, 11, 3, 17);
}

const training_setup& setup() {
  static const training_setup s = small_setup();
  return s;
}

std::size_t model_dim() {
  return setup().net->num_parameters();
}

run_config config_of(const std::string& compressor, double momentum) {
  run_config cfg;
  cfg.method = "doublesqueeze";
  cfg.compressor = compressor;
  cfg.momentum = momentum;
  cfg.batch = 6;
  cfg.lr = 0.1;
  cfg.seed = 9;
  return cfg;
}

std::span<const float> span_of(const Eigen::VectorXf& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}

/// What a run ends with.
struct outcome {
  std::vector<Eigen::VectorXf> worker_x;     ///< every worker's replica
  Eigen::VectorXf server_x;                  ///< the shards' slices, joined in range order
  std::vector<std::vector<float>> residuals; ///< every worker's δ⁽ⁱ⁾ (joined)
  std::vector<std::uint32_t> losses;         ///< every loss of every step, as bits
};

/// How the rounds are made.
enum class rounds {
  sync, ///< Algorithm 1: the n pushes of a step make one update
  async ///< the asynchronous variant, no staleness: each push alone makes one update
};

/// `steps` steps of `workers` workers and the shards of `ranges` (one range: the unsharded
/// engines, on today's code path), all at weight 1/n.
outcome run(const run_config& cfg, const std::vector<key_range>& ranges,
            rounds mode = rounds::sync) {
  const auto& net = *setup().net;
  const auto d = net.num_parameters();
  const auto K = static_cast<std::uint32_t>(ranges.size());
  std::vector<update_engine> shards;
  if (K == 1)
    shards.emplace_back(cfg, net);
  else
    for (std::uint32_t k = 0; k < K; ++k)
      shards.emplace_back(cfg, net, ranges[k], k);
  Eigen::VectorXf x0(static_cast<Eigen::Index>(d));
  net.initialize(x0, cfg.seed);
  std::vector<worker_engine> ws;
  for (std::uint32_t i = 0; i < workers; ++i) {
    ws.emplace_back(cfg, setup(), i, 0, span_of(x0), std::span<const float>{},
                    shard_assignment{1, i, workers});
    if (K > 1)
      ws.back().use_ranges(ranges);
  }
  outcome out;
  const float weight = 1.0f / static_cast<float>(workers);
  // Every shard makes the update of its range from the same pushes in the same order, and every
  // worker applies the K slices of it.
  auto make_update = [&](const std::vector<computed_gradient>& pushes) {
    std::vector<std::vector<std::uint8_t>> updates;
    for (std::uint32_t k = 0; k < K; ++k) {
      decode_limits limits;
      limits.max_dimension = static_cast<std::uint32_t>(ranges[k].size());
      std::vector<compressed_message> slices;
      for (const auto& p : pushes)
        slices.push_back(from_bytes(K == 1 ? std::span<const std::uint8_t>{p.payload}
                                           : split_slices(p.payload, K)[k],
                                    limits));
      auto c = shards[k].aggregate(slices, weight);
      shards[k].apply(c);
      updates.push_back(to_bytes(c));
    }
    const auto update = K == 1 ? updates[0] : join_slices(updates);
    for (auto& w : ws)
      w.apply(update);
  };
  for (std::size_t t = 0; t < steps; ++t) {
    std::vector<computed_gradient> pushes;
    for (auto& w : ws) {
      pushes.push_back(w.compute());
      out.losses.push_back(std::bit_cast<std::uint32_t>(pushes.back().loss));
      if (mode == rounds::async) {
        make_update(pushes);
        pushes.clear();
      }
    }
    if (mode == rounds::sync)
      make_update(pushes);
  }
  out.server_x.resize(static_cast<Eigen::Index>(d));
  for (std::uint32_t k = 0; k < K; ++k)
    out.server_x.segment(static_cast<Eigen::Index>(ranges[k].begin),
                         static_cast<Eigen::Index>(ranges[k].size())) = shards[k].x();
  for (auto& w : ws) {
    out.worker_x.push_back(w.x());
    const auto delta = w.residual();
    out.residuals.emplace_back(delta.begin(), delta.end());
    BOOST_TEST(w.version() == (mode == rounds::sync ? steps : steps * workers));
  }
  return out;
}

/// Every replica of a run (the workers' and the shards' joined) holds the same bits.
void check_consistent(const outcome& o) {
  for (const auto& x : o.worker_x)
    BOOST_TEST(same_bits(span_of(x), span_of(o.server_x)), "a replica differs from the shards'");
}

/// Two runs ended with the same bits everywhere (and the runs did train: x moved from x_0).
void check_same(const outcome& a, const outcome& b) {
  check_consistent(a);
  check_consistent(b);
  BOOST_TEST(same_bits(span_of(a.server_x), span_of(b.server_x)), "final models differ");
  BOOST_TEST((a.residuals == b.residuals), "worker residuals differ");
  BOOST_TEST((a.losses == b.losses), "losses differ");
  BOOST_TEST(a.losses.front() != a.losses.back()); // it trained
}

std::vector<key_range> unsharded() {
  return {key_range{0, model_dim()}};
}

// A per-block top-k written out as the reference of sharded top-k: the blocks are the key ranges
// of split_keys(d, parts), block r keeps its ⌈k·|r|/d⌉ coordinates of largest magnitude (lower
// index first among equal magnitudes), as a dense payload of d floats.
class block_topk final : public custom_operator {
public:
  block_topk(std::uint32_t k, std::uint32_t parts) : k_(k), parts_(parts) {}
  std::size_t payload_bytes(std::uint32_t d) const override { return 4 * std::size_t{d}; }
  void encode(std::span<const float> v, rng_engine&,
              std::span<std::uint8_t> payload) const override {
    std::vector<float> out(v.size(), 0.0f);
    for (const auto& r : split_keys(v.size(), parts_)) {
      const auto kr = std::min<std::uint64_t>(
          (std::uint64_t{k_} * r.size() + v.size() - 1) / v.size(), r.size());
      std::vector<std::uint64_t> order(r.size());
      std::iota(order.begin(), order.end(), r.begin);
      auto key = [&](std::uint64_t j) { return std::bit_cast<std::uint32_t>(v[j]) & 0x7fffffffu; };
      std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return key(a) > key(b); });
      for (std::uint64_t i = 0; i < kr; ++i)
        out[order[i]] = v[order[i]];
    }
    std::memcpy(payload.data(), out.data(), payload.size());
  }
  void decode(std::span<const std::uint8_t> payload, std::span<float> out) const override {
    std::memcpy(out.data(), payload.data(), payload.size());
  }
  bool unbiased() const override { return false; }

private:
  std::uint32_t k_, parts_;
};

struct register_reference {
  register_reference() {
    register_operator("block_topk", [](const spec_args& args) {
      return std::make_unique<block_topk>(static_cast<std::uint32_t>(args.count("k")),
                                          static_cast<std::uint32_t>(args.count("parts")));
    });
  }
};
const register_reference registered;

} // namespace

BOOST_AUTO_TEST_SUITE(coordinate_wise)

// identity and fp16 act coordinate by coordinate: K shards change nothing, bit for bit, in
// synchronous rounds and in asynchronous ones.
BOOST_AUTO_TEST_CASE(identity_and_fp16_equal_the_unsharded_run) {
  for (const char* op : {"identity", "fp16"})
    for (double mu : {0.0, 0.9})
      for (std::uint32_t K : {2u, 3u}) {
        BOOST_TEST_CONTEXT(op << " momentum " << mu << " K=" << K) {
          const auto cfg = config_of(op, mu);
          check_same(run(cfg, unsharded()), run(cfg, split_keys(model_dim(), K)));
          check_same(run(cfg, unsharded(), rounds::async),
                     run(cfg, split_keys(model_dim(), K), rounds::async));
        }
      }
}

// Unequal ranges (d = 36 over 5 shards: 8, 8, 8, 8, 4) and odd boundaries change nothing either.
BOOST_AUTO_TEST_CASE(unequal_ranges_change_nothing_for_fp16) {
  const auto cfg = config_of("fp16", 0.9);
  check_same(run(cfg, unsharded()), run(cfg, split_keys(model_dim(), 5)));
  check_same(run(cfg, unsharded()), run(cfg, {{0, 1}, {1, 30}, {30, 36}}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(scaled_operators)

// Sharded sign has one scale per range: with equal ranges of B, it is sign:block=B.
BOOST_AUTO_TEST_CASE(sharded_sign_is_sign_with_the_ranges_as_blocks) {
  for (double mu : {0.0, 0.9})
    for (std::uint32_t K : {2u, 3u}) {
      const auto B = model_dim() / K;
      BOOST_TEST_CONTEXT("momentum " << mu << " K=" << K << " B=" << B) {
        const auto sharded = run(config_of("sign", mu), split_keys(model_dim(), K));
        const auto reference = run(config_of("sign:block=" + std::to_string(B), mu), unsharded());
        check_same(sharded, reference);
        check_same(
            run(config_of("sign", mu), split_keys(model_dim(), K), rounds::async),
            run(config_of("sign:block=" + std::to_string(B), mu), unsharded(), rounds::async));
        // And not the unsharded sign with one scale: the equality above means something.
        const auto one_scale = run(config_of("sign", mu), unsharded());
        BOOST_TEST(!same_bits(span_of(one_scale.server_x), span_of(sharded.server_x)));
      }
    }
}

// Ranges aligned to sign's block keep every block whole: sharded sign:block=B is unsharded
// sign:block=B, also when the last range (and the last block) is short.
BOOST_AUTO_TEST_CASE(sharded_blocked_sign_is_the_same_blocked_sign) {
  for (std::uint32_t B : {4u, 5u, 7u})
    for (std::uint32_t K : {2u, 3u}) {
      const std::string op = "sign:block=" + std::to_string(B);
      BOOST_TEST_CONTEXT(op << " K=" << K) {
        const auto ranges = split_keys(model_dim(), K, range_alignment(op));
        for (const auto& r : ranges)
          BOOST_TEST(r.begin % B == 0u);
        const auto cfg = config_of(op, 0.9);
        check_same(run(cfg, ranges), run(cfg, unsharded()));
      }
    }
}

// Sharded top-k:k=K keeps ⌈K·|r|/d⌉ of each range r: the per-block top-k written above.
BOOST_AUTO_TEST_CASE(sharded_topk_is_per_block_topk) {
  for (std::uint32_t k : {1u, 5u, 12u})
    for (std::uint32_t K : {2u, 3u, 5u}) {
      BOOST_TEST_CONTEXT("topk:k=" << k << " K=" << K) {
        const auto sharded =
            run(config_of("topk:k=" + std::to_string(k), 0.5), split_keys(model_dim(), K));
        const auto reference =
            run(config_of("block_topk:k=" + std::to_string(k) + ",parts=" + std::to_string(K), 0.5),
                unsharded());
        check_same(sharded, reference);
      }
    }
}

// QSGD on a range scales by the norm of that range alone.
BOOST_AUTO_TEST_CASE(each_qsgd_slice_has_its_own_norm) {
  const std::uint64_t d = 60;
  const auto ranges = split_keys(d, 3);
  std::vector<float> v(d);
  for (std::size_t j = 0; j < d; ++j) // ranges of very different norms
    v[j] = static_cast<float>(std::sin(1.0 + j)) * (j < 20 ? 0.01f : j < 40 ? 1.0f : 100.0f);
  auto passes = range_passes("qsgd:s=4", false, d, ranges);
  rng_engine rng{3};
  const auto bytes = compress_slices(passes, ranges, v, rng);
  const auto slices = split_slices(bytes, 3);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto m = from_bytes(slices[k]);
    double norm = 0;
    for (auto j = ranges[k].begin; j < ranges[k].end; ++j)
      norm += double(v[j]) * v[j];
    norm = std::sqrt(norm);
    BOOST_TEST_REQUIRE(m.values.size() == 1u);
    BOOST_TEST(m.values[0] == norm, boost::test_tools::tolerance(1e-5));
    std::vector<float> out(ranges[k].size());
    decompress(m, out);
    for (const float c : out) { // every value is ±norm · l / s, l in 0..s
      const double level = std::abs(c) / m.values[0] * 4;
      BOOST_TEST(std::abs(level - std::round(level)) < 1e-4);
      BOOST_TEST(level <= 4.0001);
    }
  }
}

// The K slices together stay unbiased: over many draws the mean of the decoded composite is v.
BOOST_AUTO_TEST_CASE(sharded_qsgd_is_unbiased) {
  const std::uint64_t d = 30;
  const auto ranges = split_keys(d, 3);
  std::vector<float> v(d);
  for (std::size_t j = 0; j < d; ++j)
    v[j] = static_cast<float>(std::cos(0.7 * j));
  auto passes = range_passes("qsgd:s=2", false, d, ranges);
  constexpr int draws = 4000;
  std::vector<double> mean(d, 0.0);
  for (int t = 0; t < draws; ++t) {
    rng_engine rng{mix_seed(77, t)};
    const auto bytes = compress_slices(passes, ranges, v, rng);
    const auto slices = split_slices(bytes, 3);
    for (std::size_t k = 0; k < 3; ++k) {
      std::vector<float> out(ranges[k].size());
      decompress(from_bytes(slices[k]), out);
      for (std::size_t j = 0; j < out.size(); ++j)
        mean[ranges[k].begin + j] += out[j] / double(draws);
    }
  }
  for (std::size_t j = 0; j < d; ++j) // σ of a mean ≤ (‖v_r‖/s)/(2√draws) ≈ 0.012
    BOOST_TEST(std::abs(mean[j] - v[j]) < 0.06, "coordinate " << j);
}

// Every operator, random ones included: all replicas of a sharded run agree with the shards.
BOOST_AUTO_TEST_CASE(every_operator_keeps_the_replicas_equal) {
  for (const char* op : {"sign", "topk:k=0.2", "qsgd:s=4", "randomk:k=6,unbiased=1",
                         "randomk:k=6,shared_seed=1", "block_topk:k=4,parts=2"})
    BOOST_TEST_CONTEXT(op) {
      const auto o = run(config_of(op, 0.9), split_keys(model_dim(), 3));
      check_consistent(o);
      BOOST_TEST(o.losses.front() != o.losses.back());
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(engines)

// One range is the unsharded engine: use_ranges({0, d}) and the range constructor of shard 0
// over the whole model change no byte.
BOOST_AUTO_TEST_CASE(one_range_is_the_unsharded_engine) {
  const auto cfg = config_of("topk:k=5", 0.9);
  const auto& net = *setup().net;
  const std::vector<key_range> whole = unsharded();
  update_engine a{cfg, net}, b{cfg, net, whole[0], 0};
  BOOST_TEST(same_bits(span_of(a.x()), span_of(b.x())));
  worker_engine w1{cfg, setup(), 0, 0, span_of(a.x()), {}, shard_assignment{1, 0, 1}};
  worker_engine w2{cfg, setup(), 0, 0, span_of(a.x()), {}, shard_assignment{1, 0, 1}};
  w2.use_ranges(whole);
  BOOST_TEST(w2.ranges().empty());
  for (int t = 0; t < 5; ++t) {
    const auto p1 = w1.compute(), p2 = w2.compute();
    BOOST_TEST((p1.payload == p2.payload));
    std::vector<compressed_message> push{from_bytes(p1.payload)};
    const auto c1 = a.aggregate(push, 1.0f), c2 = b.aggregate(push, 1.0f);
    BOOST_TEST((c1 == c2));
    a.apply(c1);
    b.apply(c2);
    w1.apply(to_bytes(c1));
    w2.apply(to_bytes(c2));
  }
  BOOST_TEST(same_bits(span_of(w1.x()), span_of(w2.x())));
}

// A follower built from its slice of x_v (shard_setup) is the shard built from the model.
BOOST_AUTO_TEST_CASE(a_shard_from_its_slice_equals_the_shard_from_the_model) {
  const auto cfg = config_of("qsgd:s=4", 0.9);
  const auto& net = *setup().net;
  const auto ranges = split_keys(model_dim(), 3);
  update_engine from_model{cfg, net, ranges[2], 2};
  std::vector<float> slice(span_of(from_model.x()).begin(), span_of(from_model.x()).end());
  update_engine from_slice{cfg, model_dim(), ranges[2], 2, slice, {}, 0};
  BOOST_TEST(from_slice.version() == 0u);
  BOOST_TEST((from_slice.range() == ranges[2]));
  rng_engine rng{5};
  for (int t = 0; t < 6; ++t) {
    std::vector<float> g(ranges[2].size());
    for (auto& x : g)
      x = static_cast<float>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 1000.0f;
    std::vector<compressed_message> push{make_compressor("identity")->compress(g, rng)};
    const auto c1 = from_model.aggregate(push, 0.5f), c2 = from_slice.aggregate(push, 0.5f);
    BOOST_TEST((c1 == c2));
    from_model.apply(c1);
    from_slice.apply(c2);
  }
  BOOST_TEST(same_bits(span_of(from_model.x()), span_of(from_slice.x())));
  BOOST_TEST(
      same_bits(span_of(*from_model.momentum_buffer()), span_of(*from_slice.momentum_buffer())));
  // Another shard index is another downlink stream.
  update_engine other{cfg, model_dim(), ranges[2], 1, slice, {}, 0};
  std::vector<float> g(ranges[2].size(), 0.3f);
  g[0] = 1.0f;
  std::vector<compressed_message> push{make_compressor("identity")->compress(g, rng)};
  update_engine again{cfg, model_dim(), ranges[2], 2, slice, {}, 0};
  BOOST_TEST(!(other.aggregate(push, 1.0f) == again.aggregate(push, 1.0f)));
}

BOOST_AUTO_TEST_CASE(a_shard_refuses_a_range_or_slice_that_does_not_fit) {
  const auto cfg = config_of("sign", 0.9);
  const auto d = model_dim();
  std::vector<float> slice(10);
  BOOST_CHECK_THROW((update_engine{cfg, d, key_range{30, 40}, 1, slice, {}, 0}),
                    std::invalid_argument);
  BOOST_CHECK_THROW((update_engine{cfg, d, key_range{5, 5}, 1, {}, {}, 0}), std::invalid_argument);
  BOOST_CHECK_THROW((update_engine{cfg, d, key_range{0, 9}, 1, slice, {}, 0}),
                    std::invalid_argument);
  BOOST_CHECK_THROW((update_engine{cfg, d, key_range{0, 10}, 1, slice, std::vector<float>(3), 0}),
                    std::invalid_argument);
  BOOST_CHECK_THROW((update_engine{cfg, *setup().net, key_range{0, d + 1}, 0}),
                    std::invalid_argument);
}

// Ranges that do not split the model are refused, and so are updates that do not fit them;
// a refused update leaves x and the momentum as they were.
BOOST_AUTO_TEST_CASE(a_worker_refuses_ranges_and_updates_that_do_not_fit) {
  const auto cfg = config_of("fp16", 0.9);
  const auto d = model_dim();
  Eigen::VectorXf x0(static_cast<Eigen::Index>(d));
  setup().net->initialize(x0, cfg.seed);
  worker_engine w{cfg, setup(), 0, 0, span_of(x0), {}, shard_assignment{1, 0, 1}};
  const std::vector<key_range> gap{{0, 10}, {11, d}}, short_end{{0, 10}, {10, d - 1}};
  BOOST_CHECK_THROW(w.use_ranges(gap), std::runtime_error);
  BOOST_CHECK_THROW(w.use_ranges(short_end), std::runtime_error);
  BOOST_TEST(w.ranges().empty());
  const auto ranges = split_keys(d, 2);
  w.use_ranges(ranges);
  const auto fp16 = make_compressor("fp16");
  rng_engine rng{1};
  std::vector<float> ones(ranges[0].size(), 1.0f);
  const auto good = to_bytes(fp16->compress(ones, rng));
  const std::vector<std::vector<std::uint8_t>> one{good}, wrong_size{good, good},
      three{good, good, good};
  std::vector<float> longer(ranges[1].size() + 1, 1.0f);
  const std::vector<std::vector<std::uint8_t>> misfit{good, to_bytes(fp16->compress(longer, rng))};
  for (const auto& bad : {join_slices(one), join_slices(three), join_slices(misfit),
                          to_bytes(fp16->compress(std::vector<float>(d, 1.0f), rng))}) {
    BOOST_CHECK_THROW(w.apply(bad), std::runtime_error);
    BOOST_TEST(same_bits(span_of(w.x()), span_of(x0)));
    BOOST_TEST(w.momentum_buffer()->isZero(0.0f));
    BOOST_TEST(w.version() == 0u);
  }
  // d = 36 splits into equal halves: two equal slices are a proper update.
  w.apply(join_slices(wrong_size));
  BOOST_TEST(w.version() == 1u);
}

// snapshot() holds the ranges' residuals joined in range order (the format of an unsharded
// worker's); restore() gives each range its slice back and the worker continues bit for bit.
BOOST_AUTO_TEST_CASE(a_sharded_worker_restores_its_residual_slices) {
  const auto cfg = config_of("topk:k=6", 0.9);
  const auto d = model_dim();
  const auto ranges = split_keys(d, 3);
  Eigen::VectorXf x0(static_cast<Eigen::Index>(d));
  setup().net->initialize(x0, cfg.seed);
  worker_engine a{cfg, setup(), 1, 0, span_of(x0), {}, shard_assignment{1, 1, 2}};
  a.use_ranges(ranges);
  std::vector<update_engine> shards;
  for (std::uint32_t k = 0; k < 3; ++k)
    shards.emplace_back(cfg, *setup().net, ranges[k], k);
  std::vector<std::vector<std::uint8_t>> updates;
  auto step = [&](worker_engine& w) {
    const auto p = w.compute();
    std::vector<std::vector<std::uint8_t>> parts;
    const auto slices = split_slices(p.payload, 3);
    for (std::uint32_t k = 0; k < 3; ++k) {
      std::vector<compressed_message> push{from_bytes(slices[k])};
      auto c = shards[k].aggregate(push, 0.5f);
      shards[k].apply(c);
      parts.push_back(to_bytes(c));
    }
    updates.push_back(join_slices(parts));
    w.apply(updates.back());
    return p;
  };
  for (int t = 0; t < 4; ++t)
    step(a);
  const auto snap = a.snapshot();
  BOOST_TEST(snap.residual.size() == d);
  const auto delta = a.residual();
  BOOST_TEST(same_bits(delta, snap.residual));
  BOOST_TEST(std::any_of(delta.begin(), delta.end(), [](float x) { return x != 0; }));
  const Eigen::VectorXf x4 = a.x(), m4 = *a.momentum_buffer();
  // Restored before and after use_ranges: both orders give the same engine.
  worker_engine b{cfg, setup(), 1, 4, span_of(x4), span_of(m4), shard_assignment{1, 1, 2}};
  worker_engine c{cfg, setup(), 1, 4, span_of(x4), span_of(m4), shard_assignment{1, 1, 2}};
  b.use_ranges(ranges);
  b.restore(snap);
  c.restore(snap);
  c.use_ranges(ranges);
  BOOST_TEST((b.snapshot() == snap));
  BOOST_TEST((c.snapshot() == snap));
  for (int t = 0; t < 5; ++t) {
    const auto expected = step(a);
    const auto gb = b.compute(), gc = c.compute();
    BOOST_TEST((gb.payload == expected.payload));
    BOOST_TEST((gc.payload == expected.payload));
    b.apply(updates.back());
    c.apply(updates.back());
  }
  BOOST_TEST(same_bits(span_of(a.x()), span_of(b.x())));
  BOOST_TEST((b.snapshot() == a.snapshot()));
}

BOOST_AUTO_TEST_SUITE_END()
