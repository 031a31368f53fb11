// Steps per second of `dsq local` and the runtime's own cost per step.
//
// For each method and worker count: the wall time per synchronous step, and the compute on its
// critical path (a worker's gradient + compression + update, times ceil(workers / cores) since
// the workers share the cores, plus the server's aggregation), measured by running exactly
// those calls in a loop in this thread. The difference is what the
// actors, mailboxes and thread hand-offs cost. A ping actor on CAF's scheduler measures how
// responsive the scheduler stays while training runs (workers and server are detached, so it
// should stay in the microseconds).
//
// usage: bench_runtime [--quick] [--help]. It exits 1 if a run of dsq local failed: its figures
// would be missing, not measured.

#include "actors/local_run.hpp"
#include "bench/runtime/step_compute.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "net/protocol/register_types.hpp"
#include "training/double_squeeze.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

using namespace dsq;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// Compute on the critical path of one step, in microseconds, run serially in this thread.
double critical_path_us(const run_config& cfg, const training_setup& setup, int n) {
  bench::step_compute step{cfg, setup, cfg.seed};
  auto& [m, d, up, down, x, g, avg, scratch, sampler, bx, by, rng] = step;
  const int reps = 300;
  double worker_s = 0, server_s = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = clock_type::now();
    gather(setup.data->train, sampler.next(), bx, by);
    setup.net->loss_and_gradient(x, bx, by, g);
    auto bytes = to_bytes(up.compress({g.data(), d}, rng));
    auto c = from_bytes(bytes);
    worker_s += seconds_since(t0);
    std::vector<compressed_message> pushes(static_cast<std::size_t>(n), c);
    auto t1 = clock_type::now();
    auto update = from_bytes(to_bytes(
        server_aggregate(pushes, 1.0f / static_cast<float>(pushes.size()), down, avg, rng)));
    apply_update(update, 0.0f, nullptr, x, scratch);
    server_s += seconds_since(t1);
    auto t2 = clock_type::now();
    apply_update(update, 0.0f, nullptr, x, scratch); // the worker's copy of step 4
    worker_s += seconds_since(t2);
  }
  // n workers share the machine's cores: each core computes ceil(n / cores) gradients a step.
  const auto cores = std::max(1u, std::thread::hardware_concurrency());
  const auto rounds = (static_cast<unsigned>(n) + cores - 1) / cores;
  return 1e6 * (worker_s * rounds + server_s) / reps;
}

/// Round trips to an event-based actor on CAF's scheduler while `busy` is set.
struct ping_stats {
  double p50_us = 0, p99_us = 0;
};

ping_stats ping_while(caf::actor_system& sys, const std::atomic<bool>& busy) {
  auto echo = sys.spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
  caf::scoped_actor self{sys};
  std::vector<double> samples;
  while (busy) {
    auto t0 = clock_type::now();
    self->request(echo, caf::infinite, 1).receive([](int) {}, [](caf::error&) {});
    samples.push_back(1e6 * seconds_since(t0));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  self->send_exit(echo, caf::exit_reason::user_shutdown);
  ping_stats s;
  if (samples.empty())
    return s;
  std::sort(samples.begin(), samples.end());
  s.p50_us = samples[samples.size() / 2];
  s.p99_us = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  return s;
}

/// Runs every method and worker count; returns how many runs failed.
int measure(caf::actor_system& sys, const char* label, run_config cfg, const training_setup& setup,
            std::uint64_t steps) {
  int failed = 0;
  fmt::print("\n{}: {} parameters, batch {} per worker, {} steps\n", label,
             setup.net->num_parameters(), cfg.batch, steps);
  fmt::print("{:>14} {:>8} {:>10} {:>12} {:>12} {:>12} {:>14} {:>14}\n", "method", "workers",
             "steps/s", "wall us/step", "compute us", "overhead us", "ping p50 us", "ping p99 us");
  for (const char* method : {"sgd", "doublesqueeze"}) {
    for (int n : {1, 2, 4, 8}) {
      cfg.method = method;
      cfg.workers = static_cast<std::uint64_t>(n);
      cfg.steps = static_cast<std::int64_t>(steps);
      std::atomic<bool> busy{true};
      ping_stats ping;
      std::thread pinger([&] { ping = ping_while(sys, busy); });
      auto outcome = run_local(sys, cfg, setup, false);
      busy = false;
      pinger.join();
      if (!outcome.ok) {
        fmt::print("{:>14} {:>8} run failed: {}\n", method, n, outcome.error);
        ++failed;
        continue;
      }
      // Time between the first and the last step: leaves out start-up and the final evaluation.
      const auto& rows = outcome.rows;
      double wall = (rows.back().wall_s - rows[1].wall_s) / static_cast<double>(rows.size() - 2);
      double compute = critical_path_us(cfg, setup, n);
      fmt::print("{:>14} {:>8} {:>10.0f} {:>12.1f} {:>12.1f} {:>12.1f} {:>14.1f} {:>14.1f}\n",
                 method, n, 1 / wall, 1e6 * wall, compute, 1e6 * wall - compute, ping.p50_us,
                 ping.p99_us);
    }
  }
  return failed;
}

constexpr const char* usage = R"(usage: bench_runtime [--quick]
Runs dsq local (sgd and doublesqueeze, 1, 2, 4 and 8 workers) on a tiny model (softmax,
10^4 parameters, batch 4, 3000 steps) and an MLP on MNIST or its synthetic stand-in (300 steps),
and prints steps/s, the wall time per step, the compute on a step's critical path measured in
this thread, their difference (the runtime's overhead) and a ping to CAF's scheduler meanwhile.
  --quick   500 and 50 steps
  --help    this text
Exits 1 if a run failed, 2 for an unknown argument.
)";

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      fmt::print("{}", usage);
      return 0;
    } else {
      fmt::print(stderr, "bench_runtime: unknown argument '{}' (see --help)\n", argv[i]);
      return 2;
    }
  }
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  fmt::print("bench_runtime: {} hardware threads; workers, server and evaluator are detached "
             "actors (threads of their own), CAF's scheduler keeps its threads free\n",
             std::thread::hardware_concurrency());

  {
    std::atomic<bool> busy{true};
    ping_stats idle;
    std::thread pinger([&] { idle = ping_while(sys, busy); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    busy = false;
    pinger.join();
    fmt::print("scheduler ping while idle: p50 {:.1f} us, p99 {:.1f} us\n", idle.p50_us,
               idle.p99_us);
  }

  run_config tiny;
  tiny.dataset = "synthetic:n=4000,d=1000,classes=10";
  tiny.model = "softmax"; // d = 1000 * 10 + 10 = 10^4 parameters
  tiny.batch = 4;
  tiny.eval_every = 0;
  tiny.compressor = "sign";
  auto tiny_setup = load_training(tiny);
  int failed = measure(sys, "tiny model (runtime overhead)", tiny, tiny_setup, quick ? 500 : 3000);

  run_config mlp;
  mlp.dataset = "auto";
  mlp.model = "mlp:hidden=256,128";
  mlp.batch = 32;
  mlp.eval_every = 0;
  mlp.compressor = "sign";
  auto mlp_setup = load_training(mlp);
  failed += measure(sys, "MLP (compute-bound)", mlp, mlp_setup, quick ? 50 : 300);
  if (failed > 0) {
    fmt::print(stderr, "bench_runtime: {} run(s) failed\n", failed);
    return 1;
  }
}
