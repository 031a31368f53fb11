// The parameter server and workers as actors of one process (what `dsq local` runs).
#define BOOST_TEST_MODULE actors
#include <boost/test/unit_test.hpp>

#include "actor_test_support.hpp"
#include "actors/local_run.hpp"
#include "actors/worker.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "model/mnist.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "training/double_squeeze.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>
#include <unistd.h>

using namespace dsq;

namespace {

using testing::system_fixture;

run_config small_run() {
  run_config cfg;
  cfg.dataset = "synthetic:n=3000,d=20,classes=4";
  cfg.model = "softmax";
  cfg.workers = 4;
  cfg.steps = 100;
  cfg.batch = 16;
  cfg.lr = 0.1;
  cfg.eval_every = 0;
  cfg.seed = 3;
  return cfg;
}

/// small_run() on MNIST with `model` and batch 32, or nothing when MNIST has not been fetched.
std::optional<run_config> mnist_run(const std::string& model) {
  if (!mnist_available()) {
    BOOST_TEST_MESSAGE("MNIST not fetched (scripts/setup.sh): skipped");
    return std::nullopt;
  }
  auto cfg = small_run();
  cfg.dataset = "mnist";
  cfg.model = model;
  cfg.batch = 32;
  return cfg;
}

run_outcome run(caf::actor_system& sys, const run_config& cfg) {
  auto outcome = run_local(sys, cfg, load_training(cfg), false);
  BOOST_REQUIRE_MESSAGE(outcome.ok, outcome.error);
  return outcome;
}

double final_loss(const run_outcome& o) {
  return o.summary.final_train_loss;
}

/// A server the test drives by hand (workers are the test's business).
struct manual_server {
  training_setup setup;
  std::shared_ptr<run_outcome> outcome;
  caf::actor handle;
};

manual_server start_server(caf::actor_system& sys, const run_config& cfg) {
  server_options opts;
  opts.cfg = cfg;
  opts.setup = load_training(cfg);
  opts.verbose = false;
  manual_server result{opts.setup, opts.outcome, {}};
  result.handle = spawn_parameter_server(sys, std::move(opts));
  return result;
}

/// Registers `self` with `server` as a worker that the test drives by hand, and watches the
/// server; `before_welcome` runs in between (e.g. workers that complete the quorum).
template <class F>
welcome join_by_hand(caf::scoped_actor& self, const caf::actor& server, F before_welcome) {
  self->monitor(server);
  self->send(server, register_atom::value, worker_hello{protocol_version, self, "by hand"});
  before_welcome();
  welcome w;
  self->receive([&](welcome_atom, const welcome& received) { w = received; });
  return w;
}

/// The farewells a worker played by `self` gets until the server it monitors ends; the updates,
/// reshards and acks meanwhile are dropped.
std::vector<farewell> farewells_until_down(caf::scoped_actor& self) {
  std::vector<farewell> got;
  bool done = false;
  while (!done)
    self->receive([&](shutdown_atom, const farewell& f) { got.push_back(f); },
                  [](reshard_atom, const shard_assignment&) {},
                  [](update_atom, const model_update&) {}, [](ack_atom, std::uint64_t) {},
                  [&](caf::down_msg&) { done = true; });
  return got;
}

/// The bytes of a sign push of `values`.
std::vector<std::uint8_t> sign_payload(const std::vector<float>& values) {
  rng_engine rng{1};
  return to_bytes(make_compressor("sign")->compress(values, rng));
}

/// A worker driven by the test: it takes part in the barrier with zero gradients and lets the
/// test wait for the server's progress as events (the updates it receives), never by sleeping.
struct pacer {
  caf::scoped_actor self;
  caf::actor server;
  welcome w;
  std::uint64_t version = 0;
  std::uint64_t pushes = 0;
  std::vector<std::uint8_t> zero;
  std::optional<std::uint64_t> grant; ///< async: the server allows one push
  std::uint64_t grant_number = 0;     ///< of that grant: it goes with the push

  pacer(caf::actor_system& sys, caf::actor server_handle) : self{sys}, server(server_handle) {}

  /// Registers; returns once the server has welcomed it (training has started).
  void join() {
    self->send(server, register_atom::value, worker_hello{protocol_version, self, "pacer"});
    self->receive([&](welcome_atom, const welcome& received) { w = received; },
                  caf::after(std::chrono::seconds(60)) >>
                      [&] { BOOST_FAIL("the server did not welcome the pacer"); });
    version = w.version;
    rng_engine rng{1};
    std::vector<float> zeros(w.model.size(), 0.0f);
    zero = to_bytes(make_compressor(w.config.compressor)->compress(zeros, rng));
    maybe_push();
  }

  bool async() const { return w.config.mode == "async"; }

  /// Sync: a push for every version. Async: a push for every grant.
  void maybe_push() {
    if (async() && !(grant && version >= *grant))
      return;
    gradient_push p = testing::make_push(w.worker_id, version, 1.0f, 0, zero);
    p.grant = grant_number;
    self->send(server, push_atom::value, std::move(p));
    ++pushes;
    grant.reset();
  }

  /// Takes part in every step until the server's model reaches `target`.
  void run_until(std::uint64_t target) {
    while (version < target) {
      bool progressed = false;
      self->receive(
          [&](update_atom, const model_update& u) {
            if (u.version == version + 1) {
              version = u.version;
              progressed = true;
            }
          },
          [&](grant_atom, std::uint64_t v, std::uint64_t number) {
            grant = v;
            grant_number = number;
            progressed = true;
          },
          [&](reshard_atom, const shard_assignment&) {},
          caf::after(std::chrono::seconds(60)) >>
              [&] { BOOST_FAIL("no update for 60 s at step " << version); });
      if (progressed)
        maybe_push();
    }
  }

  /// Leaves the run.
  void leave() { self->send(server, leave_atom::value, w.worker_id); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(local_runs, system_fixture)

BOOST_AUTO_TEST_CASE(identity_doublesqueeze_equals_sgd_step_for_step) {
  auto cfg = small_run();
  cfg.model = "mlp:hidden=16";
  cfg.method = "sgd";
  auto sgd = run(*sys, cfg);
  cfg.method = "doublesqueeze";
  cfg.compressor = "identity";
  auto dsq = run(*sys, cfg);
  BOOST_REQUIRE_EQUAL(sgd.rows.size(), dsq.rows.size());
  for (std::size_t i = 1; i < sgd.rows.size(); ++i)
    BOOST_REQUIRE_EQUAL(sgd.rows[i].train_loss, dsq.rows[i].train_loss);
  BOOST_TEST((sgd.model - dsq.model).cwiseAbs().maxCoeff() == 0.0f);
  BOOST_TEST(sgd.model.size() > 0);
}

BOOST_AUTO_TEST_CASE(same_seed_gives_the_same_model) {
  auto cfg = small_run();
  cfg.compressor = "qsgd:s=4"; // randomised operator: seeds must be honoured
  auto a = run(*sys, cfg);
  auto b = run(*sys, cfg);
  BOOST_TEST((a.model - b.model).cwiseAbs().maxCoeff() == 0.0f);
  cfg.seed = 4;
  auto c = run(*sys, cfg);
  BOOST_TEST((a.model - c.model).cwiseAbs().maxCoeff() > 0.0f);
}

BOOST_AUTO_TEST_CASE(doublesqueeze_sign_converges_like_sgd_and_compressed_does_worse) {
  auto cfg = small_run();
  cfg.dataset = "synthetic:n=4000,d=64,classes=10";
  cfg.model = "mlp:hidden=32";
  cfg.steps = 400;
  cfg.lr = 0.05;
  cfg.method = "sgd";
  auto sgd = run(*sys, cfg);
  cfg.method = "doublesqueeze";
  cfg.compressor = "sign";
  auto dsq = run(*sys, cfg);
  cfg.method = "compressed";
  auto plain = run(*sys, cfg);
  BOOST_TEST_MESSAGE("final train loss: sgd " << final_loss(sgd) << ", doublesqueeze "
                                              << final_loss(dsq) << ", compressed "
                                              << final_loss(plain));
  BOOST_TEST(final_loss(dsq) < final_loss(sgd) * 1.25 + 0.02);
  BOOST_TEST(final_loss(plain) > final_loss(dsq) * 1.2);
}

BOOST_AUTO_TEST_CASE(traffic_per_step_is_what_the_operators_promise) {
  auto cfg = small_run();
  cfg.steps = 5;
  cfg.compressor = "sign";
  auto out = run(*sys, cfg);
  const double d = static_cast<double>(out.model.size());
  for (std::size_t i = 1; i < out.rows.size(); ++i) {
    const auto& r = out.rows[i];
    BOOST_TEST(r.workers == 4u);
    // sign: d/8 bytes of bits a message plus a header of a few dozen bytes, each direction.
    BOOST_TEST(r.bytes_up >= 4 * d / 8);
    BOOST_TEST(r.bytes_up <= 4 * (d / 8 + 64));
    BOOST_TEST(r.bytes_down >= 4 * d / 8);
    BOOST_TEST(r.bytes_down <= 4 * (d / 8 + 64));
  }
  cfg.method = "sgd";
  auto sgd = run(*sys, cfg);
  BOOST_TEST(sgd.rows[1].bytes_up >= 4 * 4 * d);
  BOOST_TEST(sgd.rows[1].bytes_up <= 4 * (4 * d + 64));
  BOOST_TEST(sgd.summary.bytes_up == 5 * sgd.rows[1].bytes_up);
}

BOOST_AUTO_TEST_CASE(one_worker) {
  auto cfg = small_run();
  cfg.workers = 1;
  auto out = run(*sys, cfg);
  BOOST_TEST(out.summary.steps == 100u);
  BOOST_TEST(out.rows.back().workers == 1u);
  BOOST_TEST(out.summary.final_train_loss < out.rows[1].train_loss);
}

// Softmax fits this synthetic set exactly: minibatch gradients shrink to norms of about 5e-4,
// and a minibatch of 4 that is not fitted yet still gives one of about 10, the first steps'
// scale. That is training, not divergence (the push bound of training/push_check.hpp once ended
// this run at step 1599 as diverged; bench_runtime's sgd rows failed on it).
BOOST_AUTO_TEST_CASE(an_honest_spike_after_the_gradients_vanish_is_taken) {
  run_config cfg; // bench_runtime's tiny model, as `dsq local` runs it by default
  cfg.method = "sgd";
  cfg.model = "softmax";
  cfg.dataset = "synthetic:n=4000,d=1000,classes=10";
  cfg.workers = 1;
  cfg.batch = 4;
  cfg.steps = 3000;
  cfg.eval_every = 0;
  auto out = run(*sys, cfg);
  BOOST_TEST(!out.summary.diverged);
  BOOST_TEST(out.summary.rejected_pushes == 0u);
  BOOST_TEST(out.summary.steps == 3000u);
}

BOOST_AUTO_TEST_CASE(thirty_two_workers) {
  auto cfg = small_run();
  cfg.workers = 32;
  cfg.steps = 30;
  auto out = run(*sys, cfg);
  BOOST_TEST(out.summary.steps == 30u);
  for (std::size_t i = 1; i < out.rows.size(); ++i)
    BOOST_REQUIRE_EQUAL(out.rows[i].workers, 32u);
}

BOOST_AUTO_TEST_CASE(zero_steps_evaluates_the_initial_model_and_stops) {
  auto cfg = small_run();
  cfg.steps = 0;
  auto out = run(*sys, cfg);
  BOOST_TEST(out.summary.steps == 0u);
  BOOST_REQUIRE_EQUAL(out.rows.size(), 1u);
  BOOST_TEST(std::isfinite(out.rows[0].test_loss));
  BOOST_TEST(std::isfinite(out.summary.final_train_loss));
  BOOST_TEST(out.summary.bytes_up == 0u);
}

BOOST_AUTO_TEST_CASE(evaluation_every_step) {
  auto cfg = small_run();
  cfg.steps = 20;
  cfg.eval_every = 1;
  auto out = run(*sys, cfg);
  BOOST_REQUIRE_EQUAL(out.rows.size(), 21u);
  for (const auto& r : out.rows) {
    BOOST_TEST(std::isfinite(r.test_loss));
    BOOST_TEST(r.test_accuracy >= 0.0);
  }
}

BOOST_AUTO_TEST_CASE(metrics_and_summary_files) {
  auto dir =
      std::filesystem::temp_directory_path() / ("dsq-test-actors-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto cfg = small_run();
  cfg.steps = 10;
  cfg.eval_every = 5;
  cfg.metrics = (dir / "m.csv").string();
  cfg.summary = (dir / "s.json").string();
  run(*sys, cfg);
  std::ifstream csv{cfg.metrics};
  std::string header, line;
  std::getline(csv, header);
  BOOST_TEST(header == "step,wall_s,train_loss,test_loss,test_accuracy,bytes_up,bytes_down,"
                       "workers,lr,pushes,staleness");
  int rows = 0;
  while (std::getline(csv, line))
    ++rows;
  BOOST_TEST(rows == 11);
  std::stringstream json;
  json << std::ifstream{cfg.summary}.rdbuf();
  for (const char* key :
       {"\"method\"", "\"compressor\"", "\"workers\": 4", "\"steps\": 10", "\"final_train_loss\"",
        "\"test_accuracy\"", "\"bytes_up\"", "\"bytes_down\"", "\"wall_s\"", "\"steps_per_s\""})
    BOOST_TEST(json.str().find(key) != std::string::npos, key);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(a_worker_that_dies_leaves_the_barrier) {
  auto cfg = small_run();
  cfg.workers = 5;     // four real workers and the pacer
  cfg.steps = 1000000; // stopped by the test long before the end
  auto ps = start_server(*sys, cfg);
  auto outcome = ps.outcome;
  auto workers = spawn_local_workers(*sys, ps.handle, ps.setup, 4);
  caf::scoped_actor self{*sys};
  self->monitor(ps.handle);
  pacer p{*sys, ps.handle};
  p.join();
  p.run_until(5);
  self->send_exit(workers[2], caf::exit_reason::kill);
  p.run_until(40); // steps go on without it
  self->send(ps.handle, stop_atom::value);
  self->receive([](caf::down_msg&) {});
  BOOST_REQUIRE_MESSAGE(outcome->ok, outcome->error);
  BOOST_TEST(!outcome->summary.completed);
  BOOST_TEST(outcome->summary.departures == 1u);
  BOOST_TEST(outcome->rows.back().workers == 4u);
  // Training went on after the departure: many steps with the three real workers left.
  std::size_t with_four = 0;
  for (const auto& r : outcome->rows)
    with_four += r.workers == 4u;
  BOOST_TEST(with_four > 10u);
}

BOOST_AUTO_TEST_CASE(every_worker_gone_fails_the_local_run) {
  auto cfg = small_run();
  cfg.steps = 100000;
  cfg.workers = 3; // two real workers and the pacer
  auto ps = start_server(*sys, cfg);
  auto outcome = ps.outcome;
  auto workers = spawn_local_workers(*sys, ps.handle, ps.setup, 2);
  caf::scoped_actor self{*sys};
  self->monitor(ps.handle);
  pacer p{*sys, ps.handle};
  p.join();
  p.run_until(3); // training runs: the failure must be "gone", not "before training started"
  for (auto& w : workers)
    self->send_exit(w, caf::exit_reason::kill);
  p.leave();
  self->receive([](caf::down_msg&) {});
  BOOST_TEST(!outcome->ok);
  BOOST_TEST(outcome->error.find("every worker is gone") != std::string::npos, outcome->error);
}

BOOST_AUTO_TEST_CASE(the_last_workers_leaving_mid_step_fail_the_local_run) {
  auto cfg = small_run();
  cfg.workers = 2;
  auto ps = start_server(*sys, cfg);
  caf::scoped_actor a{*sys};
  caf::scoped_actor b{*sys};
  a->monitor(ps.handle);
  // Two hand-driven workers: a pushes for step 0 and leaves, then b leaves without pushing.
  // The step completes with a's push alone, and then nobody is left.
  a->send(ps.handle, register_atom::value, worker_hello{protocol_version, a, "a"});
  b->send(ps.handle, register_atom::value, worker_hello{protocol_version, b, "b"});
  welcome wa, wb;
  a->receive([&](welcome_atom, const welcome& received) { wa = received; });
  b->receive([&](welcome_atom, const welcome& received) { wb = received; });
  rng_engine rng{1};
  std::vector<float> zeros(wa.model.size(), 0.0f);
  a->send(ps.handle, push_atom::value,
          testing::make_push(wa.worker_id, 0, 1.0f, 0,
                             to_bytes(make_compressor("sign")->compress(zeros, rng))));
  a->send(ps.handle, leave_atom::value, wa.worker_id);
  b->send(ps.handle, leave_atom::value, wb.worker_id);
  bool done = false;
  while (!done)
    a->receive([&](update_atom, const model_update&) {}, [&](caf::down_msg&) { done = true; },
               caf::after(std::chrono::seconds(10)) >> [&] { done = true; });
  BOOST_TEST(!ps.outcome->ok);
  BOOST_TEST(ps.outcome->error.find("every worker is gone at step 1") != std::string::npos,
             ps.outcome->error);
  a->send_exit(ps.handle, caf::exit_reason::user_shutdown);
}

// A leaving worker quits on the server's answer, so that its process cannot end before the
// middleman sent the leave (net/PROTOCOL.md): the server answers a leave with a farewell.
BOOST_AUTO_TEST_CASE(a_leave_is_answered_with_a_farewell) {
  auto cfg = small_run();
  cfg.workers = 1;
  auto ps = start_server(*sys, cfg);
  caf::scoped_actor a{*sys};
  a->send(ps.handle, register_atom::value, worker_hello{protocol_version, a, "a"});
  welcome w;
  a->receive([&](welcome_atom, const welcome& received) { w = received; });
  a->send(ps.handle, leave_atom::value, w.worker_id);
  std::optional<farewell> answer;
  while (!answer)
    a->receive([&](shutdown_atom, const farewell& f) { answer = f; },
               [&](update_atom, const model_update&) {},
               [&](reshard_atom, const shard_assignment&) {},
               caf::after(std::chrono::seconds(10)) >> [&] { BOOST_FAIL("no farewell in 10 s"); });
  BOOST_TEST(answer->reason == "left");
  BOOST_TEST(!answer->error);
  a->send_exit(ps.handle, caf::exit_reason::user_shutdown);
}

// A leaving worker waits for the server's farewell, but not for ever: a server that never
// answers (here a stand-in that took the welcome of a real server and stays silent) costs it at
// most 2 s.
BOOST_AUTO_TEST_CASE(a_leaving_worker_quits_without_a_farewell_after_its_bound) {
  auto cfg = small_run();
  cfg.workers = 1;
  auto ps = start_server(*sys, cfg);
  caf::scoped_actor silent{*sys}; // the worker's server: takes its messages, never answers
  silent->send(ps.handle, register_atom::value, worker_hello{protocol_version, silent, "probe"});
  welcome w;
  silent->receive([&](welcome_atom, const welcome& received) { w = received; });
  auto opts = testing::local_worker_options(ps.setup);
  opts.self_register = false;
  auto worker = spawn_worker(*sys, silent, std::move(opts));
  silent->monitor(worker);
  silent->send(worker, welcome_atom::value, w);
  silent->receive([&](push_atom, const gradient_push&) {}); // it has joined and trains
  silent->send(worker, leave_atom::value);
  bool left = false;
  bool ended = false;
  while (!ended)
    silent->receive(
        [&](leave_atom, std::uint32_t id) {
          BOOST_TEST(id == w.worker_id);
          left = true;
        },
        [&](caf::down_msg& dm) {
          BOOST_TEST((dm.source == worker.address()));
          ended = true;
        },
        [&](heartbeat_atom) {}, [&](push_atom, const gradient_push&) {},
        caf::after(std::chrono::seconds(10)) >>
            [&] { BOOST_FAIL("the worker did not end within 10 s of its leave"); });
  BOOST_TEST(left, "the worker announced its leave before it ended");
  silent->send_exit(ps.handle, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_worker_dead_before_training_fails_the_local_run_instead_of_hanging) {
  auto cfg = small_run();
  cfg.workers = 2;
  auto ps = start_server(*sys, cfg);
  auto server = ps.handle;
  auto outcome = ps.outcome;
  caf::scoped_actor self{*sys};
  self->monitor(server);
  // Registered on its behalf, then killed before the second worker exists: no quorum.
  auto first = spawn_local_workers(*sys, server, ps.setup, 1);
  self->send_exit(first[0], caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {});
  BOOST_TEST(!outcome->ok);
  BOOST_TEST(outcome->error.find("gone before training started") != std::string::npos,
             outcome->error);
}

BOOST_AUTO_TEST_CASE(protocol_mismatch_is_rejected) {
  auto cfg = small_run();
  auto ps = start_server(*sys, cfg);
  auto server = ps.handle;
  caf::scoped_actor self{*sys};
  self->send(server, register_atom::value, worker_hello{protocol_version + 1, self, "test"});
  bool rejected = false;
  self->receive([&](reject_atom, const farewell& f) {
    rejected = f.error && f.reason.find("protocol version") != std::string::npos;
  });
  BOOST_TEST(rejected);
  self->send_exit(server, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_corrupt_push_removes_the_worker_not_the_run) {
  auto cfg = small_run();
  cfg.workers = 2;
  cfg.steps = 50;
  auto ps = start_server(*sys, cfg);
  auto server = ps.handle;
  auto outcome = ps.outcome;
  caf::scoped_actor self{*sys};
  self->monitor(server);
  // A fake worker registers first (id 0), then a real one completes the quorum.
  self->send(server, register_atom::value, worker_hello{protocol_version, self, "fake"});
  spawn_worker(*sys, server, testing::local_worker_options(ps.setup));
  std::uint32_t my_id = 99;
  self->receive([&](welcome_atom, const welcome& w) { my_id = w.worker_id; });
  self->send(server, push_atom::value, testing::make_push(my_id, 0, 1.0f, 0, {1, 2, 3, 4, 5}));
  const auto told = farewells_until_down(self);
  BOOST_TEST(std::any_of(told.begin(), told.end(), [](const farewell& f) { return f.error; }));
  BOOST_REQUIRE_MESSAGE(outcome->ok, outcome->error);
  BOOST_TEST(outcome->summary.steps == 50u);
  BOOST_TEST(outcome->summary.departures == 1u);
}

BOOST_AUTO_TEST_CASE(mnist_short_run_doublesqueeze_close_to_sgd_compressed_worse) {
  auto mnist = mnist_run("softmax");
  if (!mnist)
    return;
  auto cfg = *mnist;
  cfg.steps = 300;
  cfg.compressor = "sign";
  cfg.method = "sgd";
  auto sgd = run(*sys, cfg);
  cfg.method = "doublesqueeze";
  auto dsq = run(*sys, cfg);
  cfg.method = "compressed";
  auto plain = run(*sys, cfg);
  BOOST_TEST_MESSAGE("MNIST softmax, 300 steps, final train loss / test accuracy: sgd "
                     << final_loss(sgd) << " / " << sgd.summary.test_accuracy << ", doublesqueeze "
                     << final_loss(dsq) << " / " << dsq.summary.test_accuracy << ", compressed "
                     << final_loss(plain) << " / " << plain.summary.test_accuracy);
  BOOST_TEST(dsq.summary.test_accuracy > 0.85);
  BOOST_TEST(final_loss(dsq) < final_loss(sgd) * 1.15 + 0.02);
  BOOST_TEST(final_loss(plain) > final_loss(dsq) * 1.1);
}

BOOST_AUTO_TEST_CASE(resume_starts_from_the_checkpoint) {
  auto dir =
      std::filesystem::temp_directory_path() / ("dsq-test-resume-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto cfg = small_run();
  cfg.steps = 60;
  cfg.checkpoint = dir.string();
  auto first = run(*sys, cfg);
  BOOST_REQUIRE(std::filesystem::exists(dir / "server.ckpt"));
  cfg.checkpoint.clear();
  cfg.resume = dir.string();
  cfg.steps = 100;
  auto second = run(*sys, cfg);
  BOOST_TEST(second.rows.front().step == 60u);
  // The resumed run's first evaluation is of the checkpointed model.
  BOOST_TEST(second.rows.front().test_loss == first.summary.test_loss);
  BOOST_TEST(second.rows.back().step == 100u);
  BOOST_TEST(second.rows.size() == 41u);
  cfg.model = "mlp:hidden=8"; // does not fit the checkpoint
  BOOST_CHECK_THROW(run_local(*sys, cfg, load_training(cfg), false), std::runtime_error);
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(more_workers_than_samples_is_refused) {
  auto cfg = small_run();
  cfg.dataset = "synthetic:n=3,test=3,d=4,classes=2";
  cfg.workers = 4;
  BOOST_CHECK_EXCEPTION(
      make_server_options(cfg, load_training(cfg)), config_error, [](const config_error& e) {
        return std::string{e.what()}.find("only 3 training samples") != std::string::npos;
      });
}

BOOST_AUTO_TEST_CASE(replicas_stay_bit_identical_with_momentum_schedules_and_a_join) {
  auto cfg = small_run();
  cfg.model = "mlp:hidden=16";
  cfg.workers = 3;     // two real workers and the pacer
  cfg.steps = 1000000; // stopped by the test
  cfg.momentum = 0.9;
  cfg.lr = 0.01;
  cfg.lr_schedule = "cosine:total=5000,warmup=50";
  cfg.compressor = "qsgd:s=8"; // randomised: every replica must still agree
  cfg.verify_replicas = 1;
  auto ps = start_server(*sys, cfg);
  caf::scoped_actor self{*sys};
  self->monitor(ps.handle);
  spawn_local_workers(*sys, ps.handle, ps.setup, 2);
  pacer p{*sys, ps.handle};
  p.join();
  p.run_until(10);
  spawn_local_workers(*sys, ps.handle, ps.setup, 1); // joins with the model and momentum buffer
  p.run_until(60);
  self->send(ps.handle, stop_atom::value);
  self->receive([](caf::down_msg&) {});
  const auto& out = *ps.outcome;
  BOOST_REQUIRE_MESSAGE(out.ok, out.error);
  BOOST_TEST(out.summary.joins == 1u);
  BOOST_TEST(out.summary.departures == 0u); // a diverged replica would have been removed
  BOOST_TEST(out.rows.back().workers == 4u);
  // Every push of the real workers was checked against the server's model (the pacer sends no
  // digest).
  std::uint64_t pushes = 0;
  for (std::size_t i = 1; i < out.rows.size(); ++i)
    pushes += out.rows[i].workers;
  BOOST_TEST(out.summary.verified_replicas + p.pushes >= pushes);
  BOOST_TEST(out.summary.verified_replicas > 100u);
}

BOOST_AUTO_TEST_CASE(a_diverged_replica_is_removed) {
  auto cfg = small_run();
  cfg.workers = 2;
  cfg.steps = 20;
  cfg.verify_replicas = 1;
  auto ps = start_server(*sys, cfg);
  caf::scoped_actor self{*sys};
  auto w =
      join_by_hand(self, ps.handle, [&] { spawn_local_workers(*sys, ps.handle, ps.setup, 1); });
  auto payload = sign_payload(std::vector<float>(w.model.size(), 0.0f));
  self->send(ps.handle, push_atom::value,
             testing::make_push(w.worker_id, 0, 1.0f, 12345, std::move(payload)));
  const auto told = farewells_until_down(self);
  BOOST_REQUIRE(!told.empty());
  BOOST_TEST(told.back().reason.find("replica differs") != std::string::npos, told.back().reason);
  BOOST_REQUIRE_MESSAGE(ps.outcome->ok, ps.outcome->error);
  BOOST_TEST(ps.outcome->summary.departures == 1u);
  BOOST_TEST(ps.outcome->summary.steps == 20u);
}

// A push over the norm bound, one with values that are not finite, and one that reports a loss
// that is not finite, sent on a model that has not diverged, are the worker's fault, whatever
// loss it claims: it is removed and the run goes on (training/divergence_probe.hpp). A worker's
// word alone must not end a run as diverged.
BOOST_AUTO_TEST_CASE(a_bad_push_on_a_sound_model_removes_its_worker_whatever_loss_it_reports) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (auto [what, value, loss, says] :
       {std::tuple{"over the bound", 1e6f, 1e6f, "exceeds the bound"},
        std::tuple{"not finite", inf, 1e6f, "NaN or infinite"},
        std::tuple{"with a NaN loss", 0.0f, nan,
                   "a loss of nan on a model that has not diverged"}}) {
    BOOST_TEST_CONTEXT(what) {
      auto cfg = small_run();
      cfg.workers = 1;
      cfg.steps = 50;
      cfg.max_push_norm = 1e3;
      auto ps = start_server(*sys, cfg);
      caf::scoped_actor self{*sys};
      auto w = join_by_hand(self, ps.handle, [] {});
      const auto payload = sign_payload(std::vector<float>(w.model.size(), value));
      self->send(ps.handle, push_atom::value,
                 testing::make_push(w.worker_id, w.version, loss, 0, payload));
      const auto told = farewells_until_down(self);
      BOOST_REQUIRE(!told.empty());
      BOOST_TEST(told.back().reason.find(says) != std::string::npos, told.back().reason);
      BOOST_TEST(!ps.outcome->summary.diverged);
      BOOST_TEST(ps.outcome->summary.rejected_pushes == 1u);
      BOOST_TEST(ps.outcome->summary.departures == 1u);
    }
  }
}

// Error compensation with an unbiased operator blows up (README: QSGD diverges under it): the
// workers' gradients grow, then overflow. The run ends as diverged, with its workers; it used to
// remove them one by one for their infinite pushes and end with "every worker is gone".
BOOST_AUTO_TEST_CASE(a_run_that_blows_up_ends_as_diverged_with_its_workers) {
  run_config cfg;
  cfg.method = "ef-worker";
  cfg.compressor = "qsgd:s=4";
  cfg.model = "softmax";
  cfg.dataset = "synthetic:n=4000,d=1000,classes=10";
  cfg.batch = 4;
  cfg.steps = 3000;
  cfg.eval_every = 0;
  auto out = run_local(*sys, cfg, load_training(cfg), false);
  BOOST_TEST(!out.ok);
  BOOST_TEST(out.error.find("diverged") != std::string::npos, out.error);
  BOOST_TEST(out.summary.diverged);
  BOOST_TEST(out.summary.departures == 0u);
  BOOST_TEST(out.summary.rejected_pushes == 0u);
}

BOOST_AUTO_TEST_CASE(a_registration_that_heartbeats_but_never_pushes_is_removed) {
  for (const char* mode : {"sync", "async"}) {
    auto cfg = small_run();
    cfg.mode = mode;
    cfg.workers = 3; // two real workers and a freeloader that only sends heartbeats
    cfg.steps = 200;
    cfg.worker_timeout_s = 1;
    auto ps = start_server(*sys, cfg);
    caf::scoped_actor freeloader{*sys};
    freeloader->send(ps.handle, register_atom::value,
                     worker_hello{protocol_version, freeloader, "freeloader"});
    spawn_local_workers(*sys, ps.handle, ps.setup, 2);
    caf::scoped_actor self{*sys};
    self->monitor(ps.handle);
    std::string why;
    for (int i = 0; i < 300 && why.empty(); ++i) // bounded: 30 s
      freeloader->receive(
          [&](shutdown_atom, const farewell& f) { why = f.reason; },
          [](welcome_atom, const welcome&) {}, [](grant_atom, std::uint64_t, std::uint64_t) {},
          [](update_atom, const model_update&) {}, [](reshard_atom, const shard_assignment&) {},
          caf::after(std::chrono::milliseconds(100)) >>
              [&] { freeloader->send(ps.handle, heartbeat_atom::value); });
    self->receive([](caf::down_msg&) {});
    BOOST_TEST_CONTEXT(mode) {
      BOOST_TEST(why.find("no push") != std::string::npos, why);
      BOOST_REQUIRE_MESSAGE(ps.outcome->ok, ps.outcome->error);
      BOOST_TEST(ps.outcome->summary.timeouts == 1u);
      BOOST_TEST(ps.outcome->summary.steps == 200u);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_welcome_carries_no_local_option_of_the_server) {
  auto cfg = small_run();
  cfg.workers = 1;
  cfg.metrics = "/secret/metrics.csv";
  cfg.summary = "/secret/summary.json";
  cfg.checkpoint = "/secret/ckpt";
  cfg.max_push_norm = 123;
  server_options opts;
  opts.cfg = cfg;
  opts.setup = load_training(cfg);
  opts.verbose = false;
  auto server = spawn_parameter_server(*sys, std::move(opts));
  caf::scoped_actor self{*sys};
  self->send(server, register_atom::value, worker_hello{protocol_version, self, "probe"});
  welcome w;
  self->receive([&](welcome_atom, const welcome& received) { w = received; });
  BOOST_TEST(w.config.metrics.empty());
  BOOST_TEST(w.config.summary.empty());
  BOOST_TEST(w.config.checkpoint.empty());
  BOOST_TEST(w.config.max_push_norm == 0.0);
  BOOST_TEST(w.config.model == cfg.model); // the training specification is all there
  BOOST_TEST(w.config.seed == cfg.seed);
  self->send_exit(server, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(async_with_tau_0_and_one_worker_equals_sync_bit_for_bit) {
  auto cfg = small_run();
  cfg.workers = 1;
  cfg.model = "mlp:hidden=16";
  // Randomised: the random streams must line up too. s=16, not fewer levels: with error
  // feedback, qsgd:s=8 takes this MLP (404 weights) to a test loss of 8.8e5, a divergence.
  cfg.compressor = "qsgd:s=16";
  cfg.steps = 150;
  auto sync = run(*sys, cfg);
  cfg.mode = "async";
  cfg.staleness = 0;
  auto async = run(*sys, cfg);
  BOOST_TEST(async.summary.pushes_applied == 150u);
  BOOST_TEST(async.summary.max_staleness == 0u);
  BOOST_TEST(sync.summary.test_accuracy > 0.9); // it trains (97.5%)
  BOOST_TEST((sync.model - async.model).cwiseAbs().maxCoeff() == 0.0f);
  for (std::size_t i = 1; i < sync.rows.size(); ++i)
    BOOST_REQUIRE_EQUAL(sync.rows[i].train_loss, async.rows[i].train_loss);
}

BOOST_AUTO_TEST_CASE(async_identity_with_one_worker_equals_sgd) {
  auto cfg = small_run();
  cfg.workers = 1;
  cfg.steps = 120;
  cfg.method = "sgd";
  auto sgd = run(*sys, cfg);
  cfg.method = "doublesqueeze";
  cfg.compressor = "identity";
  cfg.mode = "async";
  cfg.staleness = 4;
  auto async = run(*sys, cfg);
  BOOST_TEST((sgd.model - async.model).cwiseAbs().maxCoeff() == 0.0f);
}

BOOST_AUTO_TEST_CASE(async_runs_with_stragglers_never_exceed_the_bound) {
  for (std::int64_t tau : {0, 1, 4, 16}) {
    auto cfg = small_run();
    cfg.mode = "async";
    cfg.staleness = tau;
    cfg.steps = 400;
    cfg.slow_worker = "0:3";
    auto out = run(*sys, cfg);
    BOOST_TEST_CONTEXT("tau " << tau) {
      BOOST_TEST(out.summary.steps == 400u);
      BOOST_TEST(out.summary.pushes_applied == 400u);
      BOOST_TEST(out.summary.max_staleness <= static_cast<std::uint64_t>(tau));
      std::uint64_t total = 0;
      for (auto n : out.summary.staleness_histogram)
        total += n;
      BOOST_TEST(total == out.summary.pushes_applied);
      for (std::size_t i = 1; i < out.rows.size(); ++i)
        BOOST_REQUIRE_LE(out.rows[i].staleness, static_cast<std::uint64_t>(tau));
    }
  }
}

BOOST_AUTO_TEST_CASE(async_survives_a_killed_worker_and_a_join) {
  auto cfg = small_run();
  cfg.mode = "async";
  cfg.staleness = 2;
  cfg.workers = 4; // three real workers and the pacer
  cfg.steps = 1000000;
  auto ps = start_server(*sys, cfg);
  auto outcome = ps.outcome;
  auto workers = spawn_local_workers(*sys, ps.handle, ps.setup, 3);
  caf::scoped_actor self{*sys};
  self->monitor(ps.handle);
  pacer p{*sys, ps.handle};
  p.join();
  p.run_until(30);
  self->send_exit(workers[1], caf::exit_reason::kill); // possibly while it holds a grant
  p.run_until(100);
  spawn_local_workers(*sys, ps.handle, ps.setup, 1);
  p.run_until(200);
  self->send(ps.handle, stop_atom::value);
  self->receive([](caf::down_msg&) {});
  BOOST_REQUIRE_MESSAGE(outcome->ok, outcome->error);
  BOOST_TEST(outcome->summary.departures == 1u);
  BOOST_TEST(outcome->summary.joins == 1u);
  BOOST_TEST(outcome->summary.max_staleness <= 2u);
  BOOST_TEST(outcome->summary.steps >= 200u);
}

BOOST_AUTO_TEST_CASE(a_worker_applies_updates_in_order_when_they_arrive_out_of_order) {
  // The test plays the server: it welcomes a real worker, then sends updates 2 and 1 in that
  // order. The worker must apply 1 then 2: its next push (step 2) carries the digest of
  // x_0 − γ c₁ − γ c₂, computed here in order.
  auto cfg = small_run();
  cfg.verify_replicas = 1;
  auto setup = load_training(cfg);
  caf::scoped_actor server{*sys};
  auto opts = testing::local_worker_options(setup);
  opts.self_register = false; // the test plays the server: it welcomes the worker itself
  auto worker = spawn_worker(*sys, server, std::move(opts));
  server->send(worker, welcome_atom::value, [&] {
    welcome w;
    w.worker_id = 0;
    w.config = cfg;
    w.version = 0;
    w.total_steps = 10;
    Eigen::VectorXf x(static_cast<Eigen::Index>(setup.net->num_parameters()));
    setup.net->initialize(x, cfg.seed);
    w.model.assign(x.data(), x.data() + x.size());
    return w;
  }());
  gradient_push first;
  server->receive([&](push_atom, const gradient_push& p) { first = p; });
  BOOST_TEST(first.step == 0u);
  const auto d = static_cast<std::size_t>(setup.net->num_parameters());
  rng_engine rng{5};
  std::vector<float> g1(d, 0.01f), g2(d, -0.02f);
  g2[0] = 0.5f;
  auto c1 = make_compressor("sign")->compress(g1, rng);
  auto c2 = make_compressor("sign")->compress(g2, rng);
  server->send(worker, update_atom::value, model_update{2, to_bytes(c2)});
  server->send(worker, update_atom::value, model_update{1, to_bytes(c1)});
  gradient_push second;
  server->receive([&](push_atom, const gradient_push& p) { second = p; }, [&](heartbeat_atom) {});
  while (second.payload.empty())
    server->receive([&](push_atom, const gradient_push& p) { second = p; }, [&](heartbeat_atom) {});
  BOOST_TEST(second.step == 2u); // nothing was pushed for the buffered update alone
  Eigen::VectorXf x(static_cast<Eigen::Index>(d)), scratch;
  setup.net->initialize(x, cfg.seed);
  apply_update(c1, static_cast<float>(cfg.lr), nullptr, x, scratch);
  apply_update(c2, static_cast<float>(cfg.lr), nullptr, x, scratch);
  BOOST_TEST(second.model_digest == replica_digest(x));
  server->send_exit(worker, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(mnist_async_tau_4_is_within_a_point_of_sync) {
  auto mnist = mnist_run("mlp:hidden=64");
  if (!mnist)
    return;
  auto cfg = *mnist;
  cfg.epochs = 1;
  cfg.steps = -1;
  auto sync = run(*sys, cfg);
  cfg.mode = "async";
  cfg.staleness = 4;
  auto async = run(*sys, cfg);
  BOOST_TEST_MESSAGE("MNIST MLP, 1 epoch, 4 workers: sync " << sync.summary.test_accuracy
                                                            << ", async tau 4 "
                                                            << async.summary.test_accuracy);
  // The same samples: a version is one push of a batch (rounded up per mode).
  BOOST_TEST(async.summary.steps + 4 >= 4 * sync.summary.steps);
  BOOST_TEST(async.summary.steps <= 4 * sync.summary.steps);
  BOOST_TEST(std::abs(async.summary.test_accuracy - sync.summary.test_accuracy) <= 0.01);
  BOOST_TEST(async.summary.max_staleness <= 4u);
}

BOOST_AUTO_TEST_SUITE_END()
