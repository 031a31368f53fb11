// A program's own model and data (include/dsq/registry.hpp) through the runtime's interfaces:
// the registries and the spec parser, a gradient check through model's public methods, the
// built-in data's in_memory_data against the sampler it wraps, a run through the engines that
// trains, an exact resume with the user's state words, and a model whose gradient is NaN.
#define BOOST_TEST_MODULE user_plugins
#include <boost/test/unit_test.hpp>

#include "tests/support/user_plugins.hpp"

#include "base/random.hpp"
#include "compression/wire.hpp"
#include "model/make_model.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/sharding.hpp"
#include "model/synthetic.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/checkpoint.hpp"
#include "training/training_setup.hpp"
#include "training/update_engine.hpp"
#include "training/worker_engine.hpp"

#include <cstring>
#include <string>
#include <vector>

using namespace dsq;

namespace {

bool says(const std::exception& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

/// Registers the plugins before any test (the order of test cases is not theirs to rely on).
struct registered {
  registered() { user::register_plugins(); }
};

run_config user_config(const std::string& model = "lsq:l2=0.001") {
  run_config cfg;
  cfg.model = model;
  cfg.dataset = "blobs:n=300,d=6,classes=3";
  cfg.method = "doublesqueeze";
  cfg.compressor = "topk:k=8";
  cfg.batch = 16;
  cfg.lr = 0.1;
  cfg.seed = 9;
  return cfg;
}

std::span<const float> span_of(const Eigen::VectorXf& v) {
  return {v.data(), static_cast<std::size_t>(v.size())};
}

/// A server engine and `n` workers on the user's model and data, stepping in sync: the
/// engines of a run without the actors.
struct engines {
  run_config cfg;
  training_setup setup;
  update_engine server;
  std::vector<worker_engine> workers;
  std::vector<std::vector<std::uint8_t>> updates;

  engines(const run_config& c, std::uint32_t n)
      : cfg(c), setup(load_training(c)), server(c, *setup.net) {
    for (std::uint32_t id = 0; id < n; ++id)
      workers.emplace_back(c, setup, id, 0, span_of(server.x()), std::span<const float>{},
                           shard_assignment{0, id, n});
  }

  /// One step; returns the workers' mean loss.
  float step() {
    decode_limits limits;
    limits.max_dimension = static_cast<std::uint32_t>(server.dim());
    std::vector<compressed_message> pushes;
    float loss = 0;
    for (auto& w : workers) {
      auto g = w.compute();
      loss += g.loss / float(workers.size());
      pushes.push_back(from_bytes(g.payload, limits));
    }
    auto c = server.aggregate(pushes, 1.0f / float(workers.size()));
    server.apply(c);
    updates.push_back(to_bytes(c));
    for (auto& w : workers)
      w.apply(updates.back());
    return loss;
  }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(registered);

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(a_registered_model_passes_a_gradient_check_through_the_interface) {
  auto m = make_model("lsq:l2=0.01", 5, 3);
  BOOST_TEST(m->spec() == "lsq:l2=0.01");
  BOOST_TEST(m->num_parameters() == 18u);
  Eigen::VectorXf p(18);
  m->initialize(p, 3);
  p += Eigen::VectorXf::LinSpaced(18, -0.5f, 0.5f);
  Eigen::MatrixXf x(5, 7);
  std::vector<std::int32_t> y(7);
  for (Eigen::Index j = 0; j < 7; ++j) {
    for (Eigen::Index f = 0; f < 5; ++f)
      x(f, j) = static_cast<float>(user::normal(user::mix(j * 5 + f), user::mix(99 + j * 5 + f)));
    y[std::size_t(j)] = static_cast<std::int32_t>(j % 3);
  }
  Eigen::VectorXf grad(18);
  const float loss = m->loss_and_gradient(p, x, y, grad);
  BOOST_TEST(std::abs(loss - m->loss(p, x, y)) <= 1e-6f * loss);
  const float h = 1e-2f; // the loss is quadratic: central differences are exact but for rounding
  for (Eigen::Index k = 0; k < p.size(); ++k) {
    Eigen::VectorXf up = p, down = p;
    up[k] += h;
    down[k] -= h;
    const double numeric = (double(m->loss(up, x, y)) - double(m->loss(down, x, y))) / (2.0 * h);
    BOOST_TEST(std::abs(numeric - grad[k]) <= 2e-3 * (1.0 + std::abs(numeric)), "entry " << k);
  }
  // The runtime's argument checks hold for it as for the built-ins.
  Eigen::VectorXf short_grad(17);
  BOOST_CHECK_THROW(m->loss_and_gradient(p, x, y, short_grad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_spec_parser_refuses_what_the_factory_did_not_read) {
  BOOST_CHECK_EXCEPTION(make_model("lsq:l2=0.1,typo=3", 4, 2), model_spec_error,
                        [](const auto& e) { return says(e, "typo"); });
  BOOST_CHECK_EXCEPTION(make_model("lsq:l2=abc", 4, 2), model_spec_error,
                        [](const auto& e) { return says(e, "l2"); });
  // An unknown name lists the built-ins and the registered ones.
  BOOST_CHECK_EXCEPTION(make_model("nosuch", 4, 2), model_spec_error, [](const auto& e) {
    return says(e, "unknown model 'nosuch'") && says(e, "softmax") &&
           says(e, "registered: lsq, lsq_nan");
  });
  BOOST_CHECK_NO_THROW(check_model_spec("lsq:l2=0.5"));
  auto cfg = user_config();
  cfg.dataset = "blobs:n=50,oops=1";
  BOOST_CHECK_EXCEPTION(load_training(cfg), std::invalid_argument,
                        [](const auto& e) { return says(e, "oops"); });
  cfg.dataset = "blobz";
  BOOST_CHECK_EXCEPTION(load_training(cfg), std::invalid_argument,
                        [](const auto& e) { return says(e, "registered: blobs"); });
}

BOOST_AUTO_TEST_CASE(bad_built_in_and_repeated_names_are_refused) {
  auto factory = [](const spec_args&, Eigen::Index d, int k) -> std::unique_ptr<model> {
    return std::make_unique<user::least_squares>("x", d, k, 0.0f, false);
  };
  BOOST_CHECK_EXCEPTION(register_model("softmax", factory), std::invalid_argument,
                        [](const auto& e) { return says(e, "built-in"); });
  BOOST_CHECK_EXCEPTION(register_model("My Model", factory), std::invalid_argument,
                        [](const auto& e) { return says(e, "a-z"); });
  BOOST_CHECK_THROW(register_model("", factory), std::invalid_argument);
  BOOST_CHECK_EXCEPTION(register_model("lsq", factory), std::invalid_argument,
                        [](const auto& e) { return says(e, "already registered"); });
  auto data = [](const spec_args&, const data_context&) -> std::shared_ptr<const data_source> {
    return nullptr;
  };
  BOOST_CHECK_THROW(register_dataset("mnist", data), std::invalid_argument);
  BOOST_CHECK_THROW(register_dataset("blobs", data), std::invalid_argument);
  register_dataset("nothing", data);
  auto cfg = user_config();
  cfg.dataset = "nothing";
  BOOST_CHECK_EXCEPTION(load_training(cfg), std::invalid_argument,
                        [](const auto& e) { return says(e, "returned no data"); });
}

BOOST_AUTO_TEST_CASE(load_training_builds_the_users_data_and_model_with_an_identity) {
  const auto cfg = user_config();
  auto a = load_training(cfg);
  BOOST_TEST(!a.data);
  BOOST_REQUIRE(a.source);
  BOOST_TEST(a.source->train_size() == 300u);
  BOOST_TEST(a.net->spec() == "lsq:l2=0.001");
  BOOST_TEST(a.identity.spec == cfg.dataset);
  BOOST_TEST(a.identity.train_samples == 300u);
  BOOST_TEST(a.identity.test_samples == 200u);
  BOOST_TEST(a.identity.features == 6u);
  BOOST_TEST(a.identity.classes == 3u);
  // The same spec and seed give the same data; another seed, other data.
  BOOST_TEST((load_training(cfg).identity == a.identity));
  auto other = cfg;
  other.seed = 10;
  BOOST_TEST(load_training(other).identity.train_fingerprint != a.identity.train_fingerprint);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(built_in_data)

// in_memory_data is the built-in data's data_source: its batches are the ones the worker drew
// from minibatch_sampler before the interface existed, bit for bit, and its state the
// sampler's {epoch, position}.
BOOST_AUTO_TEST_CASE(in_memory_data_gives_the_samplers_batches_bit_for_bit) {
  synthetic_options o;
  o.train_size = 61;
  o.test_size = 5;
  o.dimension = 6;
  o.num_classes = 3;
  auto data = std::make_shared<const train_test>(make_synthetic(o, 11));
  auto source = in_memory_data(data);
  BOOST_TEST(source->train_size() == 61u);
  BOOST_TEST(source->test_set() == &data->test);
  BOOST_TEST(source->train_set() == &data->train);
  for (bool shuffled : {true, false})
    for (std::uint32_t count : {1u, 2u, 3u})
      for (std::uint64_t generation : {0u, 4u}) {
        shard_spec spec;
        spec.index = count - 1;
        spec.count = count;
        spec.generation = generation;
        spec.batch = 7;
        spec.seed = 5;
        spec.shuffled = shuffled;
        spec.worker = 2;
        BOOST_TEST_CONTEXT("shuffled " << shuffled << ", shard " << spec.index << " of " << count
                                       << ", generation " << generation) {
          auto batches = source->open_shard(spec);
          minibatch_sampler sampler{
              shard_indices(61, spec.index, count,
                            shuffled ? shard_mode::shuffled : shard_mode::contiguous, 5),
              7, mix_seed(5, (generation << 20) + 2)};
          BOOST_TEST(batches->shard_size() == sampler.shard_size());
          Eigen::MatrixXf x, expected_x;
          std::vector<std::int32_t> y, expected_y;
          for (int k = 0; k < 20; ++k) {
            batches->next(x, y);
            gather(data->train, sampler.next(), expected_x, expected_y);
            BOOST_TEST((x.size() == expected_x.size() &&
                        std::memcmp(x.data(), expected_x.data(), sizeof(float) * x.size()) == 0));
            BOOST_TEST((y == expected_y));
            BOOST_TEST((batches->state() ==
                        std::vector<std::uint64_t>{sampler.epoch(), sampler.position()}));
          }
          // A source restored from the state words continues as the sampler does.
          auto restored = source->open_shard(spec);
          restored->restore(batches->state());
          restored->next(x, y);
          gather(data->train, sampler.next(), expected_x, expected_y);
          BOOST_TEST((y == expected_y));
          BOOST_CHECK_THROW(restored->restore(std::vector<std::uint64_t>{1}),
                            std::invalid_argument);
        }
      }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(runtime)

BOOST_AUTO_TEST_CASE(a_run_through_the_engines_trains_the_users_model_on_the_users_data) {
  engines run{user_config(), 2};
  const auto& test = *run.setup.source->test_set();
  const auto before = evaluate(*run.setup.net, run.server.x(), test);
  float first = 0, last = 0;
  for (int k = 0; k < 120; ++k) {
    const float loss = run.step();
    BOOST_REQUIRE(std::isfinite(loss));
    if (k < 10)
      first += loss / 10;
    if (k >= 110)
      last += loss / 10;
  }
  const auto after = evaluate(*run.setup.net, run.server.x(), test);
  BOOST_TEST_MESSAGE("training loss " << first << " -> " << last << ", test loss " << before.loss
                                      << " -> " << after.loss << ", accuracy " << before.accuracy
                                      << " -> " << after.accuracy);
  BOOST_TEST(last < 0.6f * first);
  BOOST_TEST(after.loss < 0.6 * before.loss);
  BOOST_TEST(after.accuracy > 0.8);
  // Every replica holds the server's model.
  for (const auto& w : run.workers)
    BOOST_TEST((w.x() == run.server.x()));
}

// A worker's snapshot at step k carries the user's state words; an engine restored from it
// (through a checkpoint file, as a resumed server gives it back) continues bit for bit.
BOOST_AUTO_TEST_CASE(a_run_resumed_at_step_k_equals_the_uninterrupted_run_with_the_users_state) {
  const auto cfg = user_config();
  constexpr int k = 7, later = 10;
  engines a{cfg, 2};
  for (int s = 0; s < k; ++s)
    a.step();
  const auto snap = a.workers[1].snapshot();
  BOOST_TEST(snap.sampler_state.size() == 2u);
  BOOST_TEST(snap.sampler_state[0] == std::uint64_t(k * cfg.batch)); // the user's counter

  temp_directory dir{"user-ckpt"};
  checkpoint ckpt;
  ckpt.spec = "test";
  ckpt.version = k;
  ckpt.model = a.server.x();
  ckpt.server_rng = {1, 2, 3, 4};
  ckpt.members.next_id = 2;
  ckpt.members.members[1] = snap.shard;
  ckpt.workers[1] = snap;
  write_checkpoint(dir.path().string(), ckpt);
  const auto back = read_checkpoint(dir.path().string()).workers.at(1);
  BOOST_TEST((back == snap));

  worker_engine b{cfg, a.setup, 1, k, span_of(a.server.x()), {}, shard_assignment{9, 0, 3}};
  worker_engine fresh{cfg, a.setup, 1, k, span_of(a.server.x()), {}, snap.shard};
  b.restore(back);
  BOOST_TEST((b.snapshot() == snap));
  bool fresh_differs = false;
  for (int s = k; s < k + later; ++s) {
    const auto expected = a.workers[1].compute();
    const auto got = b.compute();
    const auto f = fresh.compute();
    BOOST_TEST((got.payload == expected.payload), "step " << s);
    BOOST_TEST(std::bit_cast<std::uint32_t>(got.loss) ==
               std::bit_cast<std::uint32_t>(expected.loss));
    fresh_differs = fresh_differs || f.payload != expected.payload;
    // The rest of the step, with worker 1's push replaced by what b computed (the same bytes).
    decode_limits limits;
    limits.max_dimension = static_cast<std::uint32_t>(a.server.dim());
    std::vector<compressed_message> pushes{from_bytes(a.workers[0].compute().payload, limits),
                                           from_bytes(expected.payload, limits)};
    auto c = a.server.aggregate(pushes, 0.5f);
    a.server.apply(c);
    const auto update = to_bytes(c);
    for (auto& w : a.workers)
      w.apply(update);
    b.apply(update);
    fresh.apply(update);
  }
  BOOST_TEST(fresh_differs);
  BOOST_TEST((b.x() == a.workers[1].x()));
  BOOST_TEST((b.snapshot() == a.workers[1].snapshot()));

  // Words the user's source cannot have produced are refused, naming the worker.
  auto bad = a.workers[1].snapshot();
  bad.sampler_state[1] ^= 1;
  BOOST_CHECK_EXCEPTION(b.restore(bad), std::runtime_error, [](const auto& e) {
    return says(e, "cannot restore worker 1") && says(e, "not this shard's");
  });
}

// A model whose gradient is NaN stops the worker with one line naming the model spec, the step
// and the fix, instead of sending the NaN on to the server and the other replicas.
BOOST_AUTO_TEST_CASE(a_model_returning_nan_stops_the_worker_with_a_clear_error) {
  engines run{user_config("lsq_nan:l2=0.5"), 1};
  auto& w = run.workers[0];
  BOOST_CHECK_EXCEPTION(w.compute(), model_output_error, [](const auto& e) {
    const std::string what = e.what();
    BOOST_TEST_MESSAGE(what);
    return says(e, "model 'lsq_nan:l2=0.5'") && says(e, "at step 0") &&
           says(e, "not finite (nan at index 0)") && says(e, "fix the model") &&
           what.find('\n') == std::string::npos;
  });
  BOOST_TEST(w.version() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
