#include "actors/worker.hpp"

#include "net/atoms.hpp"
#include "net/messages.hpp"
#include "training/double_squeeze.hpp"
#include "training/push_policy.hpp"
#include "training/update_sequencer.hpp"
#include "training/worker_engine.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <optional>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace dsq {

namespace {

using send_push_atom = caf::atom_constant<caf::atom("send_push")>;

struct worker_state {
  caf::actor server;
  worker_options opts;
  run_config cfg;
  std::uint32_t id = 0;
  std::uint64_t total_steps = 0;
  std::optional<worker_engine> engine;
  update_sequencer updates;
  std::optional<push_policy> policy;
  double slow = 1;                      ///< --slow-worker factor of this worker
  std::optional<gradient_push> delayed; ///< a straggler's push, waiting for its send time

  static inline const char* name = "dsq_worker";

  bool joined() const { return engine.has_value(); }
};

using worker_actor = caf::stateful_actor<worker_state>;

/// Restricts the calling thread to the `slot`-th CPU (modulo their number) of those it may use.
///
/// Why: the workers of `dsq local` wake at almost the same moment (one update for all) and the
/// kernel queues a woken thread on a busy CPU when none is idle. Once two CPUs hold 3 and 1
/// workers, that split sticks: a CPU that runs dry does not pull a waiting worker, since the
/// worker ran moments ago and counts as cache-hot. With 4 workers on 2 cores the last worker
/// then starts its gradient ~75 us after the update instead of ~40, and whole runs fall into
/// the slow mode or the fast one (tiny model of bench_runtime, 10 runs of 3000 steps: median
/// 138 us/step unpinned, 106 pinned; 2 workers: 87 and 70). Pinned round-robin, every CPU holds
/// floor(n / cores) or ceil(n / cores) workers in every step. Best effort: a failure leaves the
/// thread where the OS puts it.
void pin_to_cpu_slot(int slot) {
#if defined(__linux__)
  cpu_set_t allowed;
  if (slot < 0 || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return;
  const int count = CPU_COUNT(&allowed);
  if (count <= 1)
    return;
  int wanted = slot % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || wanted-- > 0)
      continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    return;
  }
#else
  (void)slot;
#endif
}

void fail(worker_actor* self, const std::string& why) {
  self->quit(caf::make_error(caf::sec::runtime_error, why));
}

/// Computes and pushes a gradient if the push policy says so. A straggler holds the push back
/// for (FACTOR − 1) times its compute time, still applying updates meanwhile.
void maybe_push(worker_actor* self) {
  auto& st = self->state;
  if (st.delayed || !st.policy->should_compute(st.engine->version()))
    return;
  const auto started = std::chrono::steady_clock::now();
  auto g = st.engine->compute();
  st.policy->computed(g.step);
  gradient_push p{st.id, g.step, g.loss, 0, std::move(g.payload)};
  const auto every = st.cfg.verify_replicas;
  if (every > 0 && g.step % every == 0)
    p.model_digest = replica_digest(st.engine->x());
  if (st.slow > 1) {
    auto extra = (st.slow - 1) * (std::chrono::steady_clock::now() - started);
    st.delayed = std::move(p);
    self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(extra),
                       send_push_atom::value);
    return;
  }
  self->send(st.server, push_atom::value, std::move(p));
}

void adopt(worker_actor* self, welcome& w) {
  auto& st = self->state;
  st.id = w.worker_id;
  st.cfg = std::move(w.config);
  st.total_steps = w.total_steps;
  if (!st.opts.setup.data)
    st.opts.setup = load_training(st.cfg);
  st.engine.emplace(st.cfg, st.opts.setup, st.id, w.version, w.model, w.momentum, w.shard);
  st.updates = update_sequencer{w.version};
  st.policy.emplace(st.cfg.mode == "async", st.total_steps);
  st.slow = slow_factor(st.cfg, st.id);
  if (st.opts.verbose)
    fmt::print("worker {}: joined at step {} of {}, shard {}/{} ({} samples){}\n", st.id, w.version,
               st.total_steps, w.shard.index + 1, w.shard.count, st.engine->shard_size(),
               st.slow > 1 ? fmt::format(", {}x slower", st.slow) : std::string{});
  std::fflush(stdout); // a worker's log must show where it is, also when it is killed
}

/// Takes an update in whatever order it came, applies every update that is next in line,
/// then pushes if the policy says so.
void receive_update(worker_actor* self, model_update& u) {
  auto& st = self->state;
  if (!st.updates.offer(u.version, std::move(u.payload)))
    return; // a duplicate, or from before this worker's welcome
  while (auto payload = st.updates.next())
    st.engine->apply(*payload);
  maybe_push(self);
  const auto v = st.engine->version();
  if (st.opts.verbose && (v % 100 == 0 || v == st.total_steps)) {
    fmt::print("worker {}: step {}/{}\n", st.id, v, st.total_steps);
    std::fflush(stdout);
  }
}

/// Liveness: the server removes a worker it has not heard from for --worker-timeout.
void heartbeat(worker_actor* self) {
  auto& st = self->state;
  self->send(st.server, heartbeat_atom::value);
  double period = 1.0;
  if (st.joined() && st.cfg.worker_timeout_s > 0)
    period = std::min(period, st.cfg.worker_timeout_s / 4);
  else if (!st.joined())
    period = 0.25;
  self->delayed_send(
      self,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(period)),
      heartbeat_atom::value);
}

caf::behavior worker_behavior(worker_actor* self, caf::actor server, worker_options opts) {
  // The behavior runs on the worker's own (detached) thread: this pins that thread. Never pin
  // a thread of CAF's scheduler.
  if (opts.detached)
    pin_to_cpu_slot(opts.cpu_slot);
  self->state.server = server;
  self->state.opts = std::move(opts);
  self->monitor(server);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == self->state.server)
      fail(self, "lost the connection to the server");
  });
  if (self->state.opts.self_register)
    self->send(server, register_atom::value,
               worker_hello{protocol_version, self, self->state.opts.host});
  heartbeat(self);
  return {
      [=](welcome_atom, welcome& w) {
        if (self->state.joined())
          return;
        try {
          adopt(self, w);
          maybe_push(self);
        } catch (const std::exception& e) {
          fail(self, e.what());
        }
      },
      [=](reshard_atom, const shard_assignment& shard) {
        if (self->state.joined())
          self->state.engine->use_shard(shard);
      },
      [=](update_atom, model_update& u) {
        if (!self->state.joined())
          return; // from before this worker's welcome
        try {
          receive_update(self, u);
        } catch (const std::exception& e) {
          fail(self, std::string{"corrupt update from the server: "} + e.what());
        }
      },
      [=](grant_atom, std::uint64_t version) {
        if (!self->state.joined())
          return;
        self->state.policy->on_grant(version);
        maybe_push(self);
      },
      [=](send_push_atom) {
        auto& st = self->state;
        if (!st.delayed)
          return;
        self->send(st.server, push_atom::value, std::move(*st.delayed));
        st.delayed.reset();
        maybe_push(self);
      },
      [=](heartbeat_atom) { heartbeat(self); },
      [=](shutdown_atom, const farewell& f) {
        if (f.error)
          fail(self, f.reason);
        else
          self->quit();
      },
      [=](reject_atom, const farewell& f) {
        if (f.error) {
          fail(self, "rejected by the server: " + f.reason);
        } else {
          fmt::print("worker: the server declined: {}\n", f.reason);
          self->quit();
        }
      },
      [=](leave_atom) {
        self->send(self->state.server, leave_atom::value, self->state.id);
        self->quit();
      },
  };
}

} // namespace

std::vector<caf::actor> spawn_local_workers(caf::actor_system& sys, const caf::actor& server,
                                            const training_setup& setup, std::size_t n,
                                            bool detached) {
  std::vector<caf::actor> workers;
  for (std::size_t i = 0; i < n; ++i) {
    worker_options opts{setup, "local", false, false, static_cast<int>(i), detached};
    workers.push_back(spawn_worker(sys, server, std::move(opts)));
    caf::anon_send(server, register_atom::value,
                   worker_hello{protocol_version, workers.back(), "local"});
  }
  return workers;
}

caf::actor spawn_worker(caf::actor_system& sys, caf::actor server, worker_options opts) {
  if (opts.detached)
    return sys.spawn<caf::detached>(worker_behavior, std::move(server), std::move(opts));
  return sys.spawn(worker_behavior, std::move(server), std::move(opts));
}

} // namespace dsq
