// Recovery in the protocol itself (net/PROTOCOL.md, "Faults"): a server that dies and is
// resumed from its checkpoint continues the run exactly, with its workers coming back; resent
// pushes are acknowledged and never applied twice; a worker that lacks updates gets them again,
// or the whole model when the server's ring no longer has them.
#define BOOST_TEST_MODULE recovery
#include <boost/test/unit_test.hpp>

#include "actor_test_support.hpp"
#include "actors/parameter_server.hpp"
#include "actors/worker.hpp"
#include "base/random.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "tests/support/same_bits.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/checkpoint.hpp"
#include "training/push_check.hpp"

#include <caf/all.hpp>

#include <chrono>

using namespace dsq;
using dsq::testing::same_bits;

namespace {

using testing::system_fixture;

run_config small_run(const std::string& compressor, double momentum) {
  run_config cfg;
  cfg.dataset = "synthetic:n=3000,d=20,classes=4";
  cfg.model = "mlp:hidden=16";
  cfg.workers = 3;
  cfg.steps = 60;
  cfg.batch = 16;
  cfg.lr = 0.05;
  cfg.momentum = momentum;
  cfg.compressor = compressor;
  cfg.eval_every = 0;
  cfg.seed = 11;
  cfg.quiet = true;
  return cfg;
}

/// Runs `cfg` in this process; with `crash_at`, the server dies after that update, is resumed
/// from cfg.checkpoint, and the workers (which wait when they lose it) are sent to the new one.
run_outcome run(caf::actor_system& sys, run_config cfg, std::optional<std::uint64_t> crash_at) {
  auto setup = load_training(cfg);
  auto opts = make_server_options(cfg, setup);
  opts.verbose = false;
  auto outcome = opts.outcome;
  if (crash_at)
    opts.crash_hook = [at = *crash_at](std::uint64_t version) { return version == at; };
  auto server = spawn_parameter_server(sys, std::move(opts));
  caf::scoped_actor self{sys};
  self->monitor(server);
  auto me = caf::actor{self};
  auto lost = [me](caf::actor worker) { caf::anon_send(me, reconnect_atom::value, worker); };
  auto workers = spawn_local_workers(sys, server, setup, cfg.workers, true, lost);
  std::vector<caf::actor> orphans;
  bool crashed = false;
  for (bool done = false; !done;) {
    self->receive(
        [&](caf::down_msg& dm) {
          if (dm.reason == caf::exit_reason::kill && crash_at && !crashed) {
            crashed = true;
            auto resumed = cfg;
            resumed.resume = cfg.checkpoint;
            auto again = make_server_options(resumed, setup);
            again.verbose = false;
            outcome = again.outcome;
            server = spawn_parameter_server(sys, std::move(again));
            self->monitor(server);
            for (auto& w : orphans)
              self->send(w, reconnect_atom::value, server);
            return;
          }
          done = true;
        },
        [&](reconnect_atom, caf::actor worker) {
          if (crashed)
            self->send(worker, reconnect_atom::value, server);
          else
            orphans.push_back(worker);
        },
        caf::after(std::chrono::seconds(60)) >>
            [&] {
              BOOST_FAIL("the run did not end within 60 s");
              done = true;
            });
  }
  BOOST_REQUIRE_MESSAGE(outcome->ok, outcome->error);
  BOOST_TEST(crashed == crash_at.has_value());
  return *outcome;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(recovery, system_fixture)

// The sync goal of issue 9: a server that dies at any step and is resumed from its last
// checkpoint, its workers coming back, ends with the uninterrupted run's model, bit for bit.
// Random compressors (their streams) and momentum (the replicas' buffer) included; each run
// trains (qsgd:s=4, too few levels for error feedback on this MLP, reached a test loss of 6.7e12,
// which now ends a run as diverged).
BOOST_AUTO_TEST_CASE(a_resumed_server_continues_the_run_exactly) {
  for (auto [compressor, momentum] :
       {std::pair{"randomk:k=0.1", 0.0}, {"qsgd:s=16", 0.5}, {"topk:k=0.05", 0.0}}) {
    auto cfg = small_run(compressor, momentum);
    temp_directory reference{"recovery-reference"};
    cfg.checkpoint = reference.path().string();
    cfg.checkpoint_every = 10;
    auto uninterrupted = run(*sys, cfg, std::nullopt);
    BOOST_TEST(uninterrupted.summary.steps == static_cast<std::uint64_t>(cfg.steps));
    BOOST_TEST(uninterrupted.summary.test_accuracy > 0.8); // it trains (all three: 91-97%)
    // The automatic push bound's history (the norms of the last 64 pushes applied and the
    // largest median they have had) is part of the state a resumed run continues from, like
    // the model.
    const auto final_state = read_checkpoint(reference.path().string());
    const auto& norms = final_state.push_norms;
    BOOST_TEST(norms.size() == push_norm_window);
    BOOST_TEST(final_state.push_norm_peak > 0.0);
    for (std::uint64_t crash_at : {7u, 20u, 41u, 59u}) {
      BOOST_TEST_CONTEXT(compressor << ", crash after step " << crash_at) {
        temp_directory dir{"recovery-crash"};
        cfg.checkpoint = dir.path().string();
        auto resumed = run(*sys, cfg, crash_at);
        BOOST_TEST(resumed.summary.returned_workers == cfg.workers);
        BOOST_TEST(same_bits(resumed.model, uninterrupted.model));
        const auto resumed_state = read_checkpoint(dir.path().string());
        BOOST_TEST(resumed_state.push_norms == norms);
        BOOST_TEST(resumed_state.push_norm_peak == final_state.push_norm_peak);
      }
    }
  }
}

// The test plays one of two workers of a sync run, with tiny gradients, and then misbehaves as
// a lossy network would make a worker misbehave.
BOOST_AUTO_TEST_CASE(resends_are_acknowledged_missing_updates_come_again_or_as_a_resync) {
  auto cfg = small_run("sign", 0);
  cfg.workers = 2;
  const std::uint64_t steps = 400;
  cfg.steps = static_cast<std::int64_t>(steps);
  server_options opts;
  opts.cfg = cfg;
  opts.setup = load_training(cfg);
  opts.verbose = false;
  auto outcome = opts.outcome;
  auto server = spawn_parameter_server(*sys, std::move(opts));
  caf::scoped_actor self{*sys};
  self->monitor(server);
  self->send(server, register_atom::value, worker_hello{protocol_version, self, "test"});
  auto real = spawn_worker(*sys, server, [] {
    worker_options o;
    o.host = "real";
    return o;
  }());
  caf::scoped_actor watcher{*sys};
  watcher->monitor(real);
  welcome w;
  self->receive([&](welcome_atom, welcome& received) { w = std::move(received); },
                caf::after(std::chrono::seconds(30)) >> [] { BOOST_FAIL("no welcome"); });
  rng_engine rng{1};
  // A tiny gradient, not zero: the server's automatic norm bound follows the pushes it sees.
  std::vector<float> tiny(w.model.size(), 1e-3f);
  const auto zero = to_bytes(make_compressor(cfg.compressor)->compress(tiny, rng));
  auto push = [&](std::uint64_t step) {
    self->send(server, push_atom::value, testing::make_push(w.worker_id, step, 1.0f, 0, zero));
  };
  auto wait = [&](auto... handlers) {
    self->receive(
        handlers..., [](reshard_atom, const shard_assignment&) {},
        caf::after(std::chrono::seconds(30)) >> [] { BOOST_FAIL("nothing for 30 s"); });
  };
  // 300 steps of the barrier: push, then wait for the update it completes.
  std::uint64_t version = 0;
  while (version < 300) {
    push(version);
    wait([&](update_atom, const model_update& u) { version = std::max(version, u.version); });
  }
  // The push of step 299 again (as if update 300 were lost): acknowledged, never applied again,
  // and update 300 comes again from the ring.
  push(299);
  std::optional<std::uint64_t> acked, resent;
  while (!acked || !resent)
    wait([&](ack_atom, std::uint64_t key) { acked = key; },
         [&](update_atom, const model_update& u) { resent = u.version; });
  BOOST_TEST(*acked == 299u);
  BOOST_TEST(*resent == 300u);
  // "I hold x_297": updates 298..300 come again.
  self->send(server, status_atom::value, std::uint64_t{297});
  std::vector<std::uint64_t> again;
  while (again.size() < 3)
    wait([&](update_atom, const model_update& u) { again.push_back(u.version); });
  BOOST_TEST(again == (std::vector<std::uint64_t>{298, 299, 300}),
             boost::test_tools::per_element());
  // "I hold x_0": older than the ring (256 updates), so the whole model comes, at version 300.
  self->send(server, status_atom::value, std::uint64_t{0});
  welcome resync;
  wait([&](resync_atom, welcome& received) { resync = std::move(received); });
  BOOST_TEST(resync.version == 300u);
  BOOST_TEST(resync.model.size() == w.model.size());
  BOOST_TEST(resync.worker_id == w.worker_id);
  // Go on to the end: every push applied exactly once.
  while (version < steps) {
    push(version);
    bool moved = false;
    while (!moved)
      wait([&](update_atom, const model_update& u) {
        moved = u.version > version;
        version = std::max(version, u.version);
      });
  }
  self->receive([](shutdown_atom, const farewell&) {});
  self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(30)) >>
                                           [] { BOOST_FAIL("the server did not end"); });
  watcher->receive([&](caf::down_msg& dm) { // the honest worker took part to the end
    BOOST_TEST(!dm.reason, sys->render(dm.reason));
  });
  BOOST_REQUIRE_MESSAGE(outcome->ok, outcome->error);
  const auto& s = outcome->summary;
  BOOST_TEST(s.steps == steps);
  BOOST_TEST(s.resyncs == 1u);
  BOOST_TEST(s.retransmissions >= 1u + 1u + 3u); // the push, update 300, updates 298..300
  // Nothing applied twice, nobody lost: every step has both pushes.
  for (std::size_t i = 1; i < outcome->rows.size(); ++i)
    BOOST_REQUIRE_EQUAL(outcome->rows[i].pushes, 2u);
}

BOOST_AUTO_TEST_SUITE_END()
