// Recovery in the protocol itself (net/PROTOCOL.md, "Faults"): a server that dies and is
// resumed from its checkpoint continues the run exactly, with its workers coming back; resent
// pushes are acknowledged and never applied twice; a worker that lacks updates gets them again,
// or the whole model when the server's ring no longer has them.
#define BOOST_TEST_MODULE recovery
#include <boost/test/unit_test.hpp>

#include "actors/parameter_server.hpp"
#include "actors/worker.hpp"
#include "compression/wire.hpp"
#include "net/atoms.hpp"
#include "net/messages.hpp"
#include "net/register_types.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <filesystem>
#include <unistd.h>

using namespace dsq;

namespace {

struct system_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  system_fixture() {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// A fresh directory under the temporary folder, removed with the object.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("dsq-recovery-" + name + "-" + std::to_string(getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

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

bool same_bits(const Eigen::VectorXf& a, const Eigen::VectorXf& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(recovery, system_fixture)

// The sync goal of issue 9: a server that dies at any step and is resumed from its last
// checkpoint, its workers coming back, ends with the uninterrupted run's model, bit for bit.
// Random compressors (their streams) and momentum (the replicas' buffer) included.
BOOST_AUTO_TEST_CASE(a_resumed_server_continues_the_run_exactly) {
  for (auto [compressor, momentum] :
       {std::pair{"randomk:k=0.1", 0.0}, {"qsgd:s=4", 0.5}, {"topk:k=0.05", 0.0}}) {
    auto cfg = small_run(compressor, momentum);
    temp_dir reference{"reference"};
    cfg.checkpoint = reference.path.string();
    cfg.checkpoint_every = 10;
    auto uninterrupted = run(*sys, cfg, std::nullopt);
    BOOST_TEST(uninterrupted.summary.steps == cfg.steps);
    for (std::uint64_t crash_at : {7u, 20u, 41u, 59u}) {
      BOOST_TEST_CONTEXT(compressor << ", crash after step " << crash_at) {
        temp_dir dir{"crash"};
        cfg.checkpoint = dir.path.string();
        auto resumed = run(*sys, cfg, crash_at);
        BOOST_TEST(resumed.summary.returned_workers == cfg.workers);
        BOOST_TEST(same_bits(resumed.model, uninterrupted.model));
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
