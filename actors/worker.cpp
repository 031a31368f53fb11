#include "actors/worker.hpp"

#include "training/double_squeeze.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "model/lr_schedule.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/sharding.hpp"
#include "net/atoms.hpp"
#include "net/messages.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <map>
#include <optional>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace dsq {

namespace {

struct worker_state {
  caf::actor server;
  worker_options opts;
  run_config cfg;
  std::uint32_t id = 0;
  std::uint64_t version = 0;
  std::uint64_t total_steps = 0;
  bool joined = false;
  Eigen::VectorXf x, grad, scratch;
  std::optional<momentum> mom;
  std::optional<compression_pass> uplink;
  std::optional<minibatch_sampler> sampler;
  std::optional<lr_schedule> schedule;
  rng_engine rng{0};
  Eigen::MatrixXf batch_x;
  std::vector<std::int32_t> batch_y;
  std::map<std::uint64_t, model_update> early; ///< updates that overtook their predecessors

  static inline const char* name = "dsq_worker";
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

void use_shard(worker_actor* self, const shard_assignment& shard) {
  auto& st = self->state;
  auto mode = st.cfg.shard == "contiguous" ? shard_mode::contiguous : shard_mode::shuffled;
  auto indices =
      shard_indices(st.opts.setup.data->train.size(), shard.index, shard.count, mode, st.cfg.seed);
  st.sampler.emplace(std::move(indices), st.cfg.batch,
                     mix_seed(st.cfg.seed, (shard.generation << 20) + st.id));
}

void push_gradient(worker_actor* self) {
  auto& st = self->state;
  auto idx = st.sampler->next();
  gather(st.opts.setup.data->train, idx, st.batch_x, st.batch_y);
  float loss = st.opts.setup.net->loss_and_gradient(st.x, st.batch_x, st.batch_y, st.grad);
  auto c = st.uplink->compress({st.grad.data(), static_cast<std::size_t>(st.grad.size())}, st.rng);
  gradient_push p{st.id, st.version, loss, 0, to_bytes(c)};
  const auto every = st.cfg.verify_replicas;
  if (every > 0 && st.version % every == 0)
    p.model_digest = replica_digest(st.x);
  self->send(st.server, push_atom::value, std::move(p));
}

void fail(worker_actor* self, const std::string& why) {
  self->quit(caf::make_error(caf::sec::runtime_error, why));
}

void adopt(worker_actor* self, welcome& w) {
  auto& st = self->state;
  st.id = w.worker_id;
  st.cfg = std::move(w.config);
  st.version = w.version;
  st.total_steps = w.total_steps;
  if (!st.opts.setup.data)
    st.opts.setup = load_training(st.cfg);
  const auto d = st.opts.setup.net->num_parameters();
  if (w.model.size() != d)
    throw std::runtime_error(fmt::format("the server's model has {} parameters, this worker's "
                                         "{} (different data or model?)",
                                         w.model.size(), d));
  st.x = Eigen::Map<const Eigen::VectorXf>(w.model.data(), static_cast<Eigen::Index>(d));
  st.grad.resize(static_cast<Eigen::Index>(d));
  if (st.cfg.momentum > 0) {
    st.mom.emplace(d, static_cast<float>(st.cfg.momentum));
    if (w.momentum.size() == d)
      st.mom->buffer() =
          Eigen::Map<const Eigen::VectorXf>(w.momentum.data(), static_cast<Eigen::Index>(d));
  }
  auto m = resolve_method(st.cfg);
  // δ⁽ⁱ⁾ starts at zero, also for a worker that joins mid-run (ALGORITHM.md, membership).
  st.uplink.emplace(m.uplink, m.uplink_residual, d);
  st.schedule.emplace(parse_lr_schedule(st.cfg.lr_schedule));
  st.rng = rng_engine{mix_seed(st.cfg.seed, 1000 + st.id)};
  use_shard(self, w.shard);
  st.joined = true;
  if (st.opts.verbose)
    fmt::print("worker {}: joined at step {} of {}, shard {}/{} ({} samples)\n", st.id, st.version,
               st.total_steps, w.shard.index + 1, w.shard.count, st.sampler->shard_size());
  std::fflush(stdout); // a worker's log must show where it is, also when it is killed
}

void apply_payload(worker_actor* self, const std::vector<std::uint8_t>& payload) {
  auto& st = self->state;
  decode_limits limits;
  limits.max_dimension = static_cast<std::uint32_t>(st.x.size());
  auto c = from_bytes(payload, limits);
  if (c.dimension() != static_cast<std::size_t>(st.x.size()))
    throw std::runtime_error("update of the wrong dimension from the server");
  float lr = st.schedule->at(st.version, static_cast<float>(st.cfg.lr));
  apply_update(c, lr, st.mom ? &*st.mom : nullptr, st.x, st.scratch);
  ++st.version;
}

/// Applies `u` if it is next in line (buffering it otherwise), then every buffered update
/// that has become next; pushes a gradient for the newest model.
void receive_update(worker_actor* self, const model_update& u) {
  auto& st = self->state;
  if (u.version != st.version + 1) {
    st.early.emplace(u.version, u);
    return;
  }
  apply_payload(self, u.payload);
  for (auto it = st.early.find(st.version + 1); it != st.early.end();
       it = st.early.find(st.version + 1)) {
    apply_payload(self, it->second.payload);
    st.early.erase(it);
  }
  if (st.version < st.total_steps)
    push_gradient(self);
  if (st.opts.verbose && (st.version % 100 == 0 || st.version == st.total_steps)) {
    fmt::print("worker {}: step {}/{}\n", st.id, st.version, st.total_steps);
    std::fflush(stdout);
  }
}

caf::behavior worker_behavior(worker_actor* self, caf::actor server, worker_options opts) {
  // The behavior runs on the worker's own (detached) thread: this pins that thread.
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
  return {
      [=](welcome_atom, welcome& w) {
        try {
          adopt(self, w);
          if (self->state.version < self->state.total_steps)
            push_gradient(self);
        } catch (const std::exception& e) {
          fail(self, e.what());
        }
      },
      [=](reshard_atom, const shard_assignment& shard) {
        if (self->state.joined)
          use_shard(self, shard);
      },
      [=](update_atom, const model_update& u) {
        auto& st = self->state;
        if (!st.joined || u.version <= st.version)
          return; // a duplicate, or from before this worker's welcome
        try {
          receive_update(self, u);
        } catch (const std::exception& e) {
          fail(self, std::string{"corrupt update from the server: "} + e.what());
        }
      },
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
                                            const training_setup& setup, std::size_t n) {
  std::vector<caf::actor> workers;
  for (std::size_t i = 0; i < n; ++i) {
    worker_options opts{setup, "local", false, false, static_cast<int>(i)};
    workers.push_back(spawn_worker(sys, server, std::move(opts)));
    caf::anon_send(server, register_atom::value,
                   worker_hello{protocol_version, workers.back(), "local"});
  }
  return workers;
}

caf::actor spawn_worker(caf::actor_system& sys, caf::actor server, worker_options opts) {
  return sys.spawn<caf::detached>(worker_behavior, std::move(server), std::move(opts));
}

} // namespace dsq
