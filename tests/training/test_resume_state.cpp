// The state behind a bit-exact resume: a worker_engine restored from its snapshot, and an
// update_engine restored from a checkpoint, continue exactly as the originals would have.
#define BOOST_TEST_MODULE resume_state
#include <boost/test/unit_test.hpp>

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "model/make_model.hpp"
#include "model/synthetic.hpp"
#include "synthetic_setup.hpp"
#include "tests/support/same_bits.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/checkpoint.hpp"
#include "training/update_engine.hpp"
#include "training/worker_engine.hpp"

#include <bit>
#include <cstring>
#include <string>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;

namespace {

/// 61 samples of 6 features in 3 classes: shard 1 of 2 holds 30, so batches of 7 straddle
/// epochs (30 = 4·7 + 2).
training_setup small_setup() {
  return synthetic_setup(61, 5, 6, 3, 11, "mlp:hidden=5");
}

struct variant {
  std::string method, compressor, shard;
  double momentum;
  std::string schedule = "constant";
};

std::string describe(const variant& v) {
  return v.method + "/" + v.compressor + "/" + v.shard + "/momentum=" + std::to_string(v.momentum);
}

run_config config_of(const variant& v) {
  run_config cfg;
  cfg.method = v.method;
  cfg.compressor = v.compressor;
  cfg.shard = v.shard;
  cfg.momentum = v.momentum;
  cfg.lr_schedule = v.schedule;
  cfg.batch = 7;
  cfg.lr = 0.05;
  cfg.seed = 5;
  return cfg;
}

std::vector<variant> variants() {
  std::vector<variant> out;
  for (const char* method : {"doublesqueeze", "compressed"})
    for (const char* c : {"sign", "topk:k=4", "qsgd:s=4", "randomk:k=4"})
      for (const char* shard : {"contiguous", "shuffled"})
        for (double mu : {0.0, 0.9})
          out.push_back({method, c, shard, mu});
  return out;
}

std::uint32_t bits(float f) {
  return std::bit_cast<std::uint32_t>(f);
}

/// What a worker produced in one step.
struct step_record {
  computed_gradient out;
  std::vector<float> residual_after;
  Eigen::VectorXf x_after;
};

/// Worker `id` and a server engine that applies the worker's pushes alone (weight 1/2, as if
/// the other worker's were zero): the server's updates depend on the worker's output, so any
/// difference shows in every later step.
struct rig {
  run_config cfg;
  training_setup setup = small_setup();
  update_engine server;
  worker_engine worker;
  std::vector<std::vector<std::uint8_t>> updates; ///< the server's update of each step

  explicit rig(const run_config& c, std::uint32_t id = 1)
      : cfg(c), server(c, *setup.net),
        worker(c, setup, id, 0, span_of(server.x()), {}, shard_assignment{1, 1, 2}) {}

  static std::span<const float> span_of(const Eigen::VectorXf& v) {
    return {v.data(), static_cast<std::size_t>(v.size())};
  }

  step_record step() {
    step_record r;
    r.out = worker.compute();
    decode_limits limits;
    limits.max_dimension = static_cast<std::uint32_t>(server.dim());
    std::vector<compressed_message> pushes{from_bytes(r.out.payload, limits)};
    auto c = server.aggregate(pushes, 0.5f);
    server.apply(c);
    updates.push_back(to_bytes(c));
    worker.apply(updates.back());
    auto delta = worker.residual();
    r.residual_after.assign(delta.begin(), delta.end());
    r.x_after = worker.x();
    return r;
  }
};

void check_same(const step_record& a, const step_record& b, std::size_t step) {
  BOOST_TEST(a.out.step == b.out.step, "step " << step);
  BOOST_TEST(bits(a.out.loss) == bits(b.out.loss), "loss of step " << step);
  BOOST_TEST((a.out.payload == b.out.payload), "payload of step " << step);
  BOOST_TEST(same_bits(a.residual_after, b.residual_after), "residual after step " << step);
  BOOST_TEST(same_bits(a.x_after, b.x_after), "replica after step " << step);
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker_engine_state)

// A payload given back (worker_engine::recycle_payload) is the buffer the next push's bytes go
// into, and those bytes are the bytes of an engine that allocates every payload afresh.
BOOST_AUTO_TEST_CASE(a_recycled_payload_carries_the_next_push_unchanged) {
  for (const char* c : {"identity", "sign", "qsgd:s=4", "topk:k=4"}) {
    BOOST_TEST_CONTEXT(c) {
      const auto cfg = config_of({"doublesqueeze", c, "contiguous", 0.9});
      rig recycled{cfg}, fresh{cfg};
      for (std::size_t k = 0; k < 4; ++k) {
        const auto a = recycled.step();
        const auto b = fresh.step();
        check_same(a, b, k);
        // A larger buffer than the payload needs, so that its reuse shows in its capacity.
        std::vector<std::uint8_t> back = a.out.payload;
        back.reserve(back.size() + 4096);
        const auto* buffer = back.data();
        const auto capacity = back.capacity();
        recycled.worker.recycle_payload(std::move(back));
        // A smaller buffer than the one held is not taken in its place.
        recycled.worker.recycle_payload(std::vector<std::uint8_t>(1));
        const auto next = recycled.step();
        check_same(next, fresh.step(), k);
        BOOST_TEST(next.out.payload.data() == buffer);
        BOOST_TEST(next.out.payload.capacity() == capacity);
      }
    }
  }
}

// The worker of the original run takes a snapshot at step s (before computing gradient s);
// a second engine built from the model and momentum of step s and restored from the snapshot
// produces the same bytes, losses, residuals and replicas in every later step. An engine that
// is not restored does not, so the test would catch a state that the snapshot misses.
BOOST_AUTO_TEST_CASE(a_restored_worker_continues_bit_for_bit) {
  constexpr std::size_t s = 6, later = 9; // 6·7 = 42 samples: past the first epoch of 30
  for (const auto& v : variants()) {
    BOOST_TEST_CONTEXT(describe(v)) {
      const auto cfg = config_of(v);
      rig a{cfg};
      for (std::size_t k = 0; k < s; ++k)
        a.step();
      const auto snap = a.worker.snapshot();
      BOOST_TEST(snap.worker_id == 1u);
      BOOST_TEST(snap.version == s);
      BOOST_TEST((snap.shard == shard_assignment{1, 1, 2}));
      // {epoch, position}: the batch of step 4 crossed into epoch 1, at 42 - 30 = 12.
      BOOST_TEST((snap.sampler_state == std::vector<std::uint64_t>{1, 12}));
      BOOST_TEST(snap.rng.size() == 4u);
      BOOST_TEST(snap.residual.size() ==
                 (v.method == "doublesqueeze" ? a.setup.net->num_parameters() : 0u));
      const Eigen::VectorXf x_s = a.worker.x();
      Eigen::VectorXf m_s;
      if (a.worker.momentum_buffer() != nullptr)
        m_s = *a.worker.momentum_buffer();

      // Built with another shard and δ = 0: restore() must bring all of it back.
      worker_engine b{
          cfg, a.setup, 1, s, rig::span_of(x_s), rig::span_of(m_s), shard_assignment{7, 0, 3}};
      worker_engine fresh{
          cfg, a.setup, 1, s, rig::span_of(x_s), rig::span_of(m_s), shard_assignment{1, 1, 2}};
      b.restore(snap);
      BOOST_TEST((b.snapshot() == snap));
      b.use_shard(snap.shard); // the welcome gives back the same shard: nothing changes
      BOOST_TEST((b.snapshot() == snap));

      bool fresh_differs = false;
      for (std::size_t k = s; k < s + later; ++k) {
        auto expected = a.step();
        auto update = a.updates.back();
        step_record got;
        got.out = b.compute();
        b.apply(update);
        auto delta = b.residual();
        got.residual_after.assign(delta.begin(), delta.end());
        got.x_after = b.x();
        check_same(expected, got, k);
        auto f = fresh.compute();
        fresh.apply(update);
        fresh_differs = fresh_differs || f.payload != expected.out.payload;
      }
      BOOST_TEST(fresh_differs);
      BOOST_TEST((b.snapshot() == a.worker.snapshot()));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_snapshot_taken_mid_epoch_and_on_a_boundary_both_restore) {
  // Shard of 30, batches of 7 (straddling) and 5 (ending exactly on the boundary at step 6).
  for (std::uint64_t batch : {7u, 5u}) {
    auto cfg = config_of({"doublesqueeze", "randomk:k=3", "shuffled", 0.5});
    cfg.batch = batch;
    for (std::size_t s : {0u, 5u, 6u, 7u}) {
      BOOST_TEST_CONTEXT("batch " << batch << ", snapshot at step " << s) {
        rig a{cfg};
        for (std::size_t k = 0; k < s; ++k)
          a.step();
        const auto snap = a.worker.snapshot();
        Eigen::VectorXf m = *a.worker.momentum_buffer();
        worker_engine b{cfg,
                        a.setup,
                        1,
                        s,
                        rig::span_of(a.worker.x()),
                        rig::span_of(m),
                        shard_assignment{1, 1, 2}};
        b.restore(snap);
        for (std::size_t k = s; k < s + 8; ++k) {
          auto expected = a.step();
          auto got = b.compute();
          b.apply(a.updates.back());
          BOOST_TEST((got.payload == expected.out.payload), "step " << k);
          BOOST_TEST(bits(got.loss) == bits(expected.out.loss), "step " << k);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_state_that_does_not_fit_is_refused_and_changes_nothing) {
  const auto cfg = config_of({"doublesqueeze", "qsgd:s=4", "contiguous", 0.9});
  rig a{cfg};
  for (int k = 0; k < 3; ++k)
    a.step();
  const auto good = a.worker.snapshot();
  auto says = [](const std::string& what) {
    return [what](const std::runtime_error& e) {
      return std::string{e.what()}.find(what) != std::string::npos;
    };
  };
  auto refused = [&](worker_snapshot bad, const std::string& what) {
    const auto before = a.worker.snapshot();
    BOOST_CHECK_EXCEPTION(a.worker.restore(bad), std::runtime_error, says(what));
    BOOST_TEST((a.worker.snapshot() == before));
  };
  auto bad = good;
  bad.worker_id = 2;
  refused(bad, "worker 2's");
  bad = good;
  bad.version = 2;
  refused(bad, "step 2");
  bad = good;
  bad.residual.pop_back();
  refused(bad, "residual has");
  bad = good;
  bad.residual.clear();
  refused(bad, "residual has 0 values");
  bad = good;
  bad.rng.resize(3);
  refused(bad, "3 words instead of 4");
  bad = good;
  bad.rng.assign(4, 0);
  refused(bad, "all-zero");
  bad = good;
  bad.shard = {1, 2, 2};
  refused(bad, "shard 2 of 2");
  bad = good;
  bad.sampler_state[1] = 30; // the shard holds 30 samples
  refused(bad, "position 30");
  bad = good;
  bad.sampler_state.push_back(0);
  refused(bad, "3 words instead of 2");
  bad = good;
  bad.sampler_state.assign(65, 0);
  refused(bad, "65 words, more than 64");
  BOOST_CHECK_NO_THROW(a.worker.restore(good));

  // An uplink without residual refuses a state that holds one.
  auto plain = config_of({"compressed", "qsgd:s=4", "contiguous", 0.9});
  rig p{plain};
  auto with_residual = p.worker.snapshot();
  with_residual.residual.assign(p.setup.net->num_parameters(), 0.0f);
  BOOST_CHECK_EXCEPTION(p.worker.restore(with_residual), std::runtime_error, says("keeps none"));
}

BOOST_AUTO_TEST_CASE(reset_model_replaces_the_replica_and_keeps_the_workers_own_state) {
  const auto cfg = config_of({"doublesqueeze", "randomk:k=3", "shuffled", 0.9});
  rig a{cfg};
  for (int k = 0; k < 4; ++k)
    a.step();
  rig far{cfg}; // the server's model further on
  for (int k = 0; k < 9; ++k)
    far.step();
  const auto before = a.worker.snapshot();
  Eigen::VectorXf m = *far.worker.momentum_buffer();
  a.worker.reset_model(9, rig::span_of(far.worker.x()), rig::span_of(m));
  BOOST_TEST(a.worker.version() == 9u);
  BOOST_TEST(same_bits(a.worker.x(), far.worker.x()));
  BOOST_TEST(same_bits(*a.worker.momentum_buffer(), m));
  auto after = a.worker.snapshot();
  BOOST_TEST(after.version == 9u);
  after.version = before.version;
  BOOST_TEST((after == before)); // residual, random stream, shard, sampler kept

  // An empty momentum zeroes the buffer; sizes that do not fit change nothing.
  a.worker.reset_model(10, rig::span_of(far.worker.x()), {});
  BOOST_TEST(a.worker.momentum_buffer()->isZero(0));
  std::vector<float> short_model(3, 1.0f);
  BOOST_CHECK_THROW(a.worker.reset_model(11, short_model, {}), std::runtime_error);
  BOOST_CHECK_THROW(a.worker.reset_model(11, rig::span_of(far.worker.x()), short_model),
                    std::runtime_error);
  BOOST_TEST(a.worker.version() == 10u);
  BOOST_TEST(same_bits(a.worker.x(), far.worker.x()));
}

BOOST_AUTO_TEST_CASE(use_shard_starts_a_new_shard_and_keeps_the_current_one) {
  const auto cfg = config_of({"doublesqueeze", "sign", "shuffled", 0.0});
  rig a{cfg};
  for (int k = 0; k < 3; ++k)
    a.step();
  auto s = a.worker.snapshot();
  a.worker.use_shard(shard_assignment{1, 1, 2});
  BOOST_TEST((a.worker.snapshot() == s));
  a.worker.use_shard(shard_assignment{2, 0, 3});
  BOOST_TEST((a.worker.shard() == shard_assignment{2, 0, 3}));
  BOOST_TEST((a.worker.snapshot().sampler_state == std::vector<std::uint64_t>{0, 0}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(update_engine_state)

namespace {

/// The pushes of step t: reproducible from t alone, so both engines get the same ones.
std::vector<compressed_message> pushes_of(std::uint64_t t, std::size_t dim) {
  auto op = make_compressor("identity");
  rng_engine rng{t + 100};
  std::vector<compressed_message> out;
  for (int w = 0; w < 3; ++w) {
    std::vector<float> g(dim);
    for (auto& x : g)
      x = static_cast<float>(static_cast<std::int64_t>(rng() % 2001) - 1000) / 1000.0f;
    out.push_back(op->compress(g, rng));
  }
  return out;
}

} // namespace

// The server's state goes through a checkpoint file and back; the resumed engine's updates and
// model are the original's bit for bit. The downlink operators draw from the server's random
// stream, momentum and a warm-up schedule depend on the buffer and the version.
BOOST_AUTO_TEST_CASE(a_restored_server_continues_bit_for_bit) {
  for (const char* c : {"randomk:k=5", "qsgd:s=3", "sign", "topk:k=5"}) {
    for (double mu : {0.0, 0.9}) {
      BOOST_TEST_CONTEXT(c << ", momentum " << mu) {
        variant v{"doublesqueeze", c, "shuffled", mu, "cosine:total=40,warmup=5"};
        const auto cfg = config_of(v);
        const auto setup = small_setup();
        const auto dim = setup.net->num_parameters();
        update_engine a{cfg, *setup.net};
        const std::uint64_t s = 7;
        for (std::uint64_t t = 0; t < s; ++t)
          a.apply(a.aggregate(pushes_of(t, dim), 1.0f / 3));
        temp_directory dir{"resume"};
        auto ckpt = a.snapshot();
        BOOST_TEST(ckpt.server_rng.size() == 4u);
        write_checkpoint(dir.path().string(), ckpt);
        const auto back = read_checkpoint(dir.path().string());
        update_engine b{cfg, *setup.net};
        b.restore(back);
        update_engine unseeded{cfg, *setup.net}; // same, but keeps its own random stream
        auto no_rng = back;
        no_rng.server_rng.clear();
        unseeded.restore(no_rng);
        BOOST_TEST(b.version() == s);
        BOOST_TEST(bits(b.lr()) == bits(a.lr()));
        bool unseeded_differs = false;
        for (std::uint64_t t = s; t < s + 10; ++t) {
          const auto pushes = pushes_of(t, dim);
          auto ca = a.aggregate(pushes, 1.0f / 3);
          auto cb = b.aggregate(pushes, 1.0f / 3);
          auto cu = unseeded.aggregate(pushes, 1.0f / 3);
          BOOST_TEST((to_bytes(ca) == to_bytes(cb)), "update of step " << t);
          unseeded_differs = unseeded_differs || to_bytes(cu) != to_bytes(ca);
          a.apply(ca);
          b.apply(cb);
          unseeded.apply(cu);
          BOOST_TEST(same_bits(a.x(), b.x()), "model after step " << t);
        }
        const bool random_operator =
            std::string{c}.starts_with("randomk") || std::string{c}.starts_with("qsgd");
        BOOST_TEST(unseeded_differs == random_operator);
        auto sa = a.snapshot(), sb = b.snapshot();
        BOOST_TEST(sa.server_rng == sb.server_rng);
        BOOST_TEST(same_bits(sa.server_residual, sb.server_residual));
        BOOST_TEST(same_bits(sa.momentum, sb.momentum));
      }
    }
  }
}

// A payload given back (update_engine::recycle_payload) is the buffer the next update's bytes
// go into (payload_of), and those bytes are the bytes of an engine whose every update is a
// fresh to_bytes(); a smaller buffer given back later does not take its place.
BOOST_AUTO_TEST_CASE(a_recycled_payload_carries_the_next_update_unchanged) {
  for (const char* c : {"identity", "sign", "qsgd:s=3", "topk:k=5"}) {
    BOOST_TEST_CONTEXT(c) {
      const auto cfg = config_of({"doublesqueeze", c, "shuffled", 0.9});
      const auto setup = small_setup();
      const auto dim = setup.net->num_parameters();
      update_engine recycled{cfg, *setup.net}, fresh{cfg, *setup.net};
      std::vector<std::uint8_t> last;
      for (std::uint64_t t = 0; t < 6; ++t) {
        const auto pushes = pushes_of(t, dim);
        const auto& cr = recycled.aggregate(pushes, 1.0f / 3);
        const auto& cf = fresh.aggregate(pushes, 1.0f / 3);
        const auto expected = to_bytes(cf);
        const auto* buffer = last.data();
        const auto capacity = last.capacity();
        recycled.recycle_payload(std::move(last));
        recycled.recycle_payload(std::vector<std::uint8_t>(1));
        auto bytes = recycled.payload_of(cr);
        BOOST_TEST((bytes == expected), "update of step " << t);
        if (t > 0) {
          BOOST_TEST(bytes.data() == buffer, "buffer of step " << t);
          BOOST_TEST(bytes.capacity() == capacity, "capacity of step " << t);
        }
        recycled.apply(cr);
        fresh.apply(cf);
        BOOST_TEST(same_bits(recycled.x(), fresh.x()), "model after step " << t);
        // A larger buffer than the update needs, so that its reuse shows in its capacity.
        last = std::move(bytes);
        last.reserve(last.size() + 4096);
      }
    }
  }
}

// With a sign downlink and no momentum the server's x waits for up to eight updates and takes
// them in one pass when read: x() and snapshot() give, bit for bit, x updated at every step
// (apply_update with that step's γ, here under a warm-up schedule), whenever they are read; a
// restore drops the updates that waited.
BOOST_AUTO_TEST_CASE(the_servers_deferred_updates_give_the_model_of_every_step) {
  const auto cfg =
      config_of({"doublesqueeze", "sign", "shuffled", 0.0, "cosine:total=40,warmup=5"});
  const auto setup = small_setup();
  const auto dim = setup.net->num_parameters();
  update_engine a{cfg, *setup.net};
  Eigen::VectorXf x = a.x(), scratch;
  checkpoint at_step_5;
  for (std::uint64_t t = 0; t < 30; ++t) {
    const float lr = a.lr();
    const auto& c = a.aggregate(pushes_of(t, dim), 1.0f / 3);
    apply_update(c, lr, nullptr, x, scratch);
    a.apply(c);
    if (t == 4)
      at_step_5 = a.snapshot();
    if (t == 2 || t == 12 || t == 29) // read after 3, 8 + 2 and 8 + 8 + 1 waiting updates
      BOOST_TEST(same_bits(a.x(), x), "model after step " << t);
    if (t == 20)
      BOOST_TEST(same_bits(a.snapshot().model, x), "checkpoint after step " << t);
  }
  BOOST_TEST(same_bits(at_step_5.model, x) == false);
  a.apply(a.aggregate(pushes_of(30, dim), 1.0f / 3)); // one update waits
  a.restore(at_step_5);
  BOOST_TEST(a.version() == 5u);
  BOOST_TEST(same_bits(a.x(), at_step_5.model));
}

BOOST_AUTO_TEST_CASE(a_malformed_random_stream_is_refused) {
  const auto cfg = config_of({"doublesqueeze", "randomk:k=5", "shuffled", 0.0});
  const auto setup = small_setup();
  update_engine a{cfg, *setup.net};
  auto ckpt = a.snapshot();
  ckpt.server_rng.resize(3);
  BOOST_CHECK_THROW(a.restore(ckpt), std::runtime_error);
  ckpt.server_rng.assign(4, 0);
  BOOST_CHECK_THROW(a.restore(ckpt), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()
