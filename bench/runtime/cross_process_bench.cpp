// A synchronous step across processes, next to the same step in one process and to the
// network's floor, with the runtime settings of dsq (config/cli/runtime_defaults, and its
// connections, net/transport/eager_tcp.hpp) and with CAF's own passed explicitly ("old": CAF's
// defaults,
// --tcp=caf), interleaved in one run.
//
// For 1, 2, 4, 8 workers and the tiny model of issue 12 (softmax on
// synthetic:n=4000,d=20,classes=4, sign DoubleSqueeze, --eval-every=0):
//   - `dsq local --workers=N`, and `dsq server` + N `dsq worker` processes on 127.0.0.1,
//   - raw_tcp_floor with N clients (plain blocking TCP, the same message pattern and sizes),
// each as wall µs per step (from the metrics CSV, start-up excluded), CPU µs per step and
// voluntary context switches ("wake-ups") per step, summed over all processes (wait4's rusage of
// a run minus that of a one-step run of the same configuration, which holds the start-up).
// Then MNIST mlp:hidden=128, batch 32, 4 worker processes, steps/s with both settings; the CPU
// that waiting processes use (a worker stopped with SIGSTOP holds up the step: the server and
// the other worker wait); and the compute of a step measured in this process (gradient,
// compression, wire encoding, CAF serialization, aggregation), for the breakdown; and the step
// seen from the processes: over a window in the middle of a long run, each process's CPU per
// step (user and kernel), the time it was ready but waited for a CPU, and how often it blocked.
//
// Every configuration runs `--repeats` times, interleaved; medians are printed. The machine may
// be loaded by other work: compare the ratios within one run, not the absolute figures.
// Every child binds 127.0.0.1 only, runs in its own process group, dies with this program
// (PR_SET_PDEATHSIG) and is killed when its time bound passes.
//
// Options: `cross_process_bench --help` (the `usage` text below).

#include "base/os/child_process.hpp"
#include "bench/runtime/step_compute.hpp"
#include "compression/compressor.hpp"
#include "compression/wire.hpp"
#include "config/cli/runtime_defaults.hpp"
#include "config/method.hpp"
#include "config/run_config.hpp"
#include "training/double_squeeze.hpp"
#include "training/training_setup.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#ifndef DSQ_BINARY
#define DSQ_BINARY "dsq"
#endif
#ifndef DSQ_SOURCE_DIR
#define DSQ_SOURCE_DIR "."
#endif
#ifndef RAW_TCP_FLOOR_BINARY
#define RAW_TCP_FLOOR_BINARY "raw_tcp_floor"
#endif

using namespace dsq;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// -- child processes --------------------------------------------------------------------------

// Every child dies with this program (base/os/child_process.hpp: PR_SET_PDEATHSIG), also when
// it is interrupted.
extern "C" void on_interrupt(int) {
  std::_Exit(130);
}

/// What a finished child used.
struct usage {
  bool ok = false;
  double cpu_us = 0;
  double wakeups = 0; ///< voluntary context switches: the times a thread blocked and was woken
};

usage& operator+=(usage& a, const usage& b) {
  a.ok = a.ok && b.ok;
  a.cpu_us += b.cpu_us;
  a.wakeups += b.wakeups;
  return a;
}

/// Waits for `c` until `deadline`; kills its group then. ok: exited with status `expected` in
/// time (0; a dsq server stopped by SIGTERM exits with 143).
usage wait_until(child_process& c, clock_type::time_point deadline, int expected = 0) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
  const auto status = c.wait_for(std::max(left, std::chrono::milliseconds{0}));
  if (!status) {
    c.kill_all();
    return {};
  }
  return {status->exited && status->code == expected, c.usage().cpu_us,
          c.usage().voluntary_switches};
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Polls `path` until it contains `needle`, or `deadline` passes, or `writer` ended without
/// writing it (a failed run fails at once instead of at the deadline).
bool wait_for_text(const fs::path& path, const std::string& needle, child_process& writer,
                   clock_type::time_point deadline) {
  while (clock_type::now() < deadline) {
    if (read_file(path).find(needle) != std::string::npos)
      return true;
    if (!writer.running())
      return read_file(path).find(needle) != std::string::npos;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

/// Wall seconds per step from a metrics CSV: (wall_s[last] - wall_s[1]) / (steps - 1), which
/// leaves out start-up, the welcome and the final evaluation.
std::optional<double> seconds_per_step(const fs::path& csv) {
  std::ifstream in{csv};
  std::string line;
  std::vector<double> wall;
  std::getline(in, line); // header
  while (std::getline(in, line)) {
    auto a = line.find(',');
    auto b = line.find(',', a + 1);
    if (a == std::string::npos || b == std::string::npos)
      continue;
    wall.push_back(std::stod(line.substr(a + 1, b - a - 1)));
  }
  if (wall.size() < 4)
    return std::nullopt;
  return (wall.back() - wall[1]) / static_cast<double>(wall.size() - 2);
}

/// What the threads of a process have used so far, from /proc/PID/task/*/{schedstat,stat,status}.
struct process_times {
  double run_ns = 0;       ///< on a CPU
  double wait_ns = 0;      ///< runnable, waiting for a CPU
  double user_ticks = 0;   ///< the kernel's tick samples of user and system time, which split
  double system_ticks = 0; ///< run_ns between the two (ticks are too coarse to add up alone)
  double blocks = 0;       ///< voluntary context switches: a thread blocked, to be woken later
};

process_times times_of(pid_t pid) {
  process_times t;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    std::ifstream sched{task.path() / "schedstat"};
    double run = 0, wait = 0;
    if (sched >> run >> wait) {
      t.run_ns += run;
      t.wait_ns += wait;
    }
    // stat: "tid (comm) state ..."; utime and stime are the 12th and 13th fields after comm.
    auto stat = read_file(task.path() / "stat");
    auto close = stat.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields{stat.substr(close + 1)};
      std::string field;
      for (int i = 0; i < 13 && fields >> field; ++i) {
        if (i == 11)
          t.user_ticks += std::stod(field);
        if (i == 12)
          t.system_ticks += std::stod(field);
      }
    }
    std::ifstream status{task.path() / "status"};
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
        t.blocks += std::stod(line.substr(line.find(':') + 1));
  }
  return t;
}

process_times operator-(process_times a, const process_times& b) {
  a.run_ns -= b.run_ns;
  a.wait_ns -= b.wait_ns;
  a.user_ticks -= b.user_ticks;
  a.system_ticks -= b.system_ticks;
  a.blocks -= b.blocks;
  return a;
}

process_times& operator+=(process_times& a, const process_times& b) {
  a.run_ns += b.run_ns;
  a.wait_ns += b.wait_ns;
  a.user_ticks += b.user_ticks;
  a.system_ticks += b.system_ticks;
  a.blocks += b.blocks;
  return a;
}

// -- configurations ---------------------------------------------------------------------------

struct bench_options {
  bool help = false;
  bool quick = false;
  int repeats = 3;
  long steps = 2000;
  std::vector<int> workers{1, 2, 4, 8};
  bool mnist = true;
  std::string dsq = DSQ_BINARY;
  std::string old_dsq; ///< empty: the same binary with CAF's own settings passed explicitly
  fs::path dir;
};

/// "old": CAF's own defaults (today's main before the runtime defaults), "new": dsq's.
struct setting {
  std::string name;
  std::string binary;
  std::vector<std::string> extra; ///< arguments that every process of the run gets
  /// Arguments of dsq server and dsq worker only (dsq local refuses them: it has no network).
  std::vector<std::string> network_extra;
};

std::vector<setting> settings_of(const bench_options& o) {
  setting old_setting{"old", o.old_dsq.empty() ? o.dsq : o.old_dsq, {}, {}};
  if (o.old_dsq.empty()) {
    old_setting.extra = caf_default_arguments();
    old_setting.network_extra.push_back(
        "--tcp=caf"); // CAF's own connections (dsq's: net/transport/eager_tcp.hpp)
  }
  return {old_setting, setting{"new", o.dsq, {}, {}}};
}

const std::vector<std::string> tiny_model{
    "--model=softmax", "--dataset=synthetic:n=4000,d=20,classes=4", "--eval-every=0", "--quiet"};
const std::vector<std::string> mnist_model{"--model=mlp:hidden=128", "--dataset=mnist",
                                           "--batch=32", "--eval-every=0", "--quiet"};

/// One measured run: wall µs per step and what all its processes used.
struct run_result {
  bool ok = false;
  double us_per_step = 0;
  usage used;
};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int run_counter = 0;
bool any_failed = false; ///< keep the run directories to look at

/// A `dsq server` on 127.0.0.1 and its `dsq worker` processes.
struct cross_run {
  std::unique_ptr<child_process> server;
  int port = 0; ///< where the server listens
  std::vector<std::unique_ptr<child_process>> workers;
};

/// Starts `dsq server server_args` on a free port of 127.0.0.1 and, once it listens, `n` quiet
/// `dsq worker` processes, their outputs in `dir`; nullopt if the server ended or did not listen
/// by `deadline`.
std::optional<cross_run> start_cross_run(const setting& s,
                                         const std::vector<std::string>& server_args, int n,
                                         const fs::path& dir, clock_type::time_point deadline) {
  cross_run run;
  run.server = std::make_unique<child_process>(
      concat(concat({s.binary, "server", "--port=0", "--bind=127.0.0.1"}, server_args),
             s.network_extra),
      dir, "server");
  if (!wait_for_text(dir / "server.out", "waiting for", *run.server, deadline))
    return std::nullopt;
  auto text = read_file(dir / "server.out");
  auto at = text.find("127.0.0.1:");
  if (at == std::string::npos)
    return std::nullopt;
  run.port = std::stoi(text.substr(at + 10));
  for (int i = 0; i < n; ++i)
    run.workers.push_back(std::make_unique<child_process>(
        concat(
            concat({s.binary, "worker", fmt::format("--server=127.0.0.1:{}", run.port), "--quiet"},
                   s.extra),
            s.network_extra),
        dir, fmt::format("worker{}", i)));
  return run;
}

/// `dsq local --workers=N` (n_processes == 0) or `dsq server` + N `dsq worker` processes.
run_result run_dsq(const bench_options& o, const setting& s, bool local, int n, long steps,
                   const std::vector<std::string>& model) {
  run_result result;
  auto dir = o.dir / fmt::format("run{}", run_counter++);
  fs::create_directories(dir);
  auto csv = dir / "metrics.csv";
  auto deadline = clock_type::now() + std::chrono::seconds(o.quick ? 60 : 120);
  std::vector<std::string> common = concat(model, s.extra);
  common.push_back(fmt::format("--steps={}", steps));
  common.push_back(fmt::format("--workers={}", n));
  common.push_back("--metrics=" + csv.string());
  if (local) {
    child_process c(concat({s.binary, "local"}, common), dir, "local");
    result.used = wait_until(c, deadline);
  } else {
    auto run = start_cross_run(s, common, n, dir, deadline);
    if (!run)
      return result;
    result.used = wait_until(*run->server, deadline);
    for (auto& w : run->workers)
      result.used += wait_until(*w, deadline + 10s);
  }
  auto sps = seconds_per_step(csv);
  result.ok = result.used.ok && (steps < 4 || sps.has_value());
  if (sps)
    result.us_per_step = 1e6 * *sps;
  if (!result.ok) {
    any_failed = true;
    fmt::print("  (a run failed: see {})\n", dir.string());
  }
  return result;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The median of `v` as a table cell; "-" where every run failed (no figure, not a zero).
std::string figure(const std::vector<double>& v) {
  return v.empty() ? std::string{"-"} : fmt::format("{:.1f}", median(v));
}

/// a / b as a table cell; "-" where either was not measured.
std::string ratio(double a, double b) {
  return a > 0 && b > 0 ? fmt::format("{:.2f}x", a / b) : std::string{"-"};
}

/// Per-step figures of one configuration, over the repeats.
struct per_step {
  std::vector<double> wall_us, cpu_us, wakeups;
  void add(const run_result& full, const run_result& startup, long steps) {
    if (!full.ok || !startup.ok)
      return;
    wall_us.push_back(full.us_per_step);
    auto extra = static_cast<double>(steps - 1);
    cpu_us.push_back((full.used.cpu_us - startup.used.cpu_us) / extra);
    wakeups.push_back((full.used.wakeups - startup.used.wakeups) / extra);
  }
};

/// raw_tcp_floor's figures for one client count.
struct floor_result {
  std::vector<double> us, cpu_us, wakeups;
};

void run_floor(const bench_options& o, int clients, std::size_t up, std::size_t down, long rounds,
               floor_result& into) {
  auto dir = o.dir / fmt::format("floor{}", run_counter++);
  fs::create_directories(dir);
  fs::path floor_binary = fs::path{o.dsq}.parent_path() / "bench" / "runtime" / "raw_tcp_floor";
  if (!fs::exists(floor_binary))
    floor_binary = RAW_TCP_FLOOR_BINARY;
  child_process c({floor_binary.string(), fmt::format("--clients={}", clients),
                   fmt::format("--up={}", up), fmt::format("--down={}", down),
                   fmt::format("--rounds={}", rounds)},
                  dir, "raw_tcp_floor");
  if (!wait_until(c, clock_type::now() + 120s).ok) {
    any_failed = true;
    fmt::print("  (raw_tcp_floor failed: see {})\n", dir.string());
    return;
  }
  auto text = c.out();
  auto value = [&](const std::string& key) {
    auto at = text.find(key + "=");
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + key.size() + 1));
  };
  into.us.push_back(value("us_per_round"));
  into.cpu_us.push_back(value("cpu_us_per_round"));
  into.wakeups.push_back(value("wakeups_per_round"));
}

// -- the compute of a step, measured in this process ------------------------------------------

struct compute_breakdown {
  double gradient_us = 0;  ///< a worker's gather + loss_and_gradient
  double compress_us = 0;  ///< uplink compression + to_bytes
  double caf_ser_us = 0;   ///< CAF's binary serialization + deserialization of the payload
  double aggregate_us = 0; ///< server: from_bytes of each push, aggregate, to_bytes
  double apply_us = 0;     ///< from_bytes + apply_update (every replica, and the server)
  std::size_t push_bytes = 0, update_bytes = 0;

  /// A worker's part of a step: its gradient, compression and apply.
  double worker_us() const { return gradient_us + compress_us + apply_us; }
};

compute_breakdown measure_compute(const std::vector<std::string>& model_args, int n, int reps) {
  run_config cfg;
  for (const auto& a : model_args) {
    if (a.rfind("--model=", 0) == 0)
      cfg.model = a.substr(8);
    if (a.rfind("--dataset=", 0) == 0)
      cfg.dataset = a.substr(10);
    if (a.rfind("--batch=", 0) == 0)
      cfg.batch = std::stoul(a.substr(8));
  }
  cfg.compressor = "sign";
  auto setup = load_training(cfg);
  bench::step_compute step{cfg, setup, 1};
  auto& [m, d, up, down, x, g, avg, scratch, sampler, bx, by, rng] = step;
  compute_breakdown b;
  auto us_since = [](clock_type::time_point t) {
    return std::chrono::duration<double, std::micro>(clock_type::now() - t).count();
  };
  for (int r = 0; r < reps; ++r) {
    auto t0 = clock_type::now();
    gather(setup.data->train, sampler.next(), bx, by);
    setup.net->loss_and_gradient(x, bx, by, g);
    auto t1 = clock_type::now();
    auto bytes = to_bytes(up.compress({g.data(), d}, rng));
    b.compress_us += us_since(t1);
    b.gradient_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
    // What BASP does to a payload on its way: serialize on one side, deserialize on the other.
    auto t2 = clock_type::now();
    std::vector<char> buffer;
    caf::binary_serializer sink{nullptr, buffer};
    sink(bytes);
    std::vector<std::uint8_t> copy;
    caf::binary_deserializer source{nullptr, buffer};
    source(copy);
    b.caf_ser_us += us_since(t2);
    b.push_bytes = bytes.size();
    auto t3 = clock_type::now();
    std::vector<compressed_message> pushes;
    for (int i = 0; i < n; ++i)
      pushes.push_back(from_bytes(copy));
    // server_aggregate's work: the average of the pushes, compressed through the downlink.
    avg.setZero();
    for (const auto& c : pushes)
      add_scaled(c, 1.0f / static_cast<float>(n), {avg.data(), d});
    auto update = to_bytes(down.compress({avg.data(), d}, rng));
    b.aggregate_us += us_since(t3);
    b.update_bytes = update.size();
    auto t4 = clock_type::now();
    apply_update(from_bytes(update), 0.0f, nullptr, x, scratch);
    b.apply_us += us_since(t4);
  }
  for (double* v : {&b.gradient_us, &b.compress_us, &b.caf_ser_us, &b.aggregate_us, &b.apply_us})
    *v /= reps;
  return b;
}

// -- waiting without spinning -----------------------------------------------------------------

/// CPU (% of one core) of the server and of a worker while another worker is stopped
/// (SIGSTOP): both wait, the server for the missing push, the worker for the update. Also the
/// server alone, before any worker connected.
struct idle_cpu {
  double server_waiting_for_workers = -1, server_waiting_for_push = -1,
         worker_waiting_for_update = -1;
};

idle_cpu measure_idle(const bench_options& o, const setting& s) {
  idle_cpu result;
  auto dir = o.dir / fmt::format("idle{}", run_counter++);
  fs::create_directories(dir);
  auto deadline = clock_type::now() + 60s;
  const auto window = 1s;
  std::vector<std::string> args = concat(tiny_model, s.extra);
  args.push_back("--steps=100000000");
  args.push_back("--workers=2");
  auto failed = [&] {
    any_failed = true;
    fmt::print("  (the waiting measurement failed: see {})\n", dir.string());
    return idle_cpu{};
  };
  auto run = start_cross_run(s, args, 0, dir, deadline); // its workers come below
  if (!run)
    return failed();
  auto& server = *run->server;
  auto percent = [&](std::vector<pid_t> pids) {
    std::vector<double> before;
    for (pid_t p : pids)
      before.push_back(times_of(p).run_ns);
    auto t0 = clock_type::now();
    std::this_thread::sleep_for(window);
    auto wall_ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count();
    std::vector<double> out;
    for (std::size_t i = 0; i < pids.size(); ++i)
      out.push_back(100 * (times_of(pids[i]).run_ns - before[i]) / wall_ns);
    return out;
  };
  result.server_waiting_for_workers = percent({server.pid()})[0];
  const auto port = run->port;
  // Worker 0 prints its progress (no --quiet): its lines tell that training runs.
  std::vector<std::string> w0 =
      concat(concat({s.binary, "worker", fmt::format("--server=127.0.0.1:{}", port)}, s.extra),
             s.network_extra);
  std::vector<std::string> w1 = w0;
  w1.push_back("--quiet");
  child_process worker0(w0, dir, "worker0");
  child_process worker1(w1, dir, "worker1");
  if (!wait_for_text(dir / "worker0.out", "step 1000/", worker0, deadline))
    return failed();
  kill(worker1.pid(), SIGSTOP);
  std::this_thread::sleep_for(100ms); // let the step in flight end
  auto waiting = percent({server.pid(), worker0.pid()});
  kill(worker1.pid(), SIGCONT);
  result.server_waiting_for_push = waiting[0];
  result.worker_waiting_for_update = waiting[1];
  kill(server.pid(), SIGTERM); // stops the run early; the workers are told to exit
  bool ok = wait_until(server, clock_type::now() + 20s, 128 + SIGTERM).ok;
  ok = wait_until(worker0, clock_type::now() + 10s).ok && ok;
  ok = wait_until(worker1, clock_type::now() + 10s).ok && ok;
  return ok ? result : failed();
}

// -- a step in the steady state, per process -------------------------------------------------

/// What the server and the workers of a running cross-process run used over a window in the
/// middle of training (start-up and the end left out): a step's CPU split by process and
/// between user and kernel, the time runnable but waiting for a CPU, and the blocks.
struct steady_state {
  bool ok = false;
  double us_per_step = 0;
  double steps = 0; ///< steps in the window
  process_times server, workers;
};

steady_state measure_steady_state(const bench_options& o, const setting& s, int n) {
  steady_state result;
  auto dir = o.dir / fmt::format("steady{}", run_counter++);
  fs::create_directories(dir);
  auto csv = dir / "metrics.csv";
  auto deadline = clock_type::now() + 60s;
  const auto window = o.quick ? 500ms : 1500ms;
  std::vector<std::string> args = concat(tiny_model, s.extra);
  args.push_back("--steps=100000000"); // ended by SIGTERM after the window
  args.push_back(fmt::format("--workers={}", n));
  args.push_back("--metrics=" + csv.string());
  auto failed = [&] {
    any_failed = true;
    fmt::print("  (a steady-state run failed: see {})\n", dir.string());
    return result;
  };
  auto run = start_cross_run(s, args, n, dir, deadline);
  if (!run)
    return failed();
  auto& server = *run->server;
  auto& workers = run->workers;
  // The first row of the metrics reaches the file once training runs (rows follow each second).
  if (!wait_for_text(csv, "\n0,", server, deadline))
    return failed();
  std::this_thread::sleep_for(300ms); // past the first steps
  auto sample = [&] {
    std::pair<process_times, process_times> t{times_of(server.pid()), {}};
    for (auto& w : workers)
      t.second += times_of(w->pid());
    return t;
  };
  auto before = sample();
  auto t0 = clock_type::now();
  std::this_thread::sleep_for(window);
  auto after = sample();
  auto window_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  kill(server.pid(), SIGTERM); // the server stops the run and dismisses its workers
  bool ok = wait_until(server, clock_type::now() + 30s, 128 + SIGTERM).ok;
  for (auto& w : workers)
    ok = wait_until(*w, clock_type::now() + 10s).ok && ok;
  auto sps = seconds_per_step(csv);
  if (!ok || !sps)
    return failed();
  result.ok = true;
  result.us_per_step = 1e6 * *sps;
  result.steps = window_us / result.us_per_step;
  result.server = after.first - before.first;
  result.workers = after.second - before.second;
  return result;
}

/// One row of the steady-state table: per step, `processes` processes' times divided among them.
void print_times(const char* who, const process_times& t, double steps, double processes) {
  const double per = 1e-3 / (steps * processes); // ns in all -> µs per step and process
  const double ticks = t.user_ticks + t.system_ticks;
  const double user = ticks > 0 ? t.user_ticks / ticks : 0;
  fmt::print("  {:<12} {:>8.1f} {:>8.1f} {:>8.1f} {:>10.1f} {:>8.2f}\n", who, t.run_ns * per,
             t.run_ns * per * user, t.run_ns * per * (1 - user), t.wait_ns * per,
             t.blocks / (steps * processes));
}

// -- output -----------------------------------------------------------------------------------

std::string load_average() {
  std::ifstream in{"/proc/loadavg"};
  double one = 0, five = 0, fifteen = 0;
  in >> one >> five >> fifteen;
  return fmt::format("{:.2f} {:.2f} {:.2f}", one, five, fifteen);
}

constexpr const char* usage = R"(usage: cross_process_bench [options]
A synchronous dsq step across processes (dsq server + N dsq worker on 127.0.0.1), next to the
same step in one process (dsq local) and to raw TCP with the same messages, with dsq's runtime
defaults ("new") and with CAF's own passed explicitly or another binary ("old"), interleaved.
Prints µs, CPU µs and wake-ups per step, the issue-12 goals, where a step's time goes in
each process (CPU, user and kernel, waiting for a CPU, blocks), MNIST steps/s and the CPU of
waiting processes. Compare ratios within one run: the machine may be loaded by other work.

  --quick           1 repeat, 1000 steps, 1 and 4 workers
  --repeats=R       runs of every configuration, interleaved; medians (default 3, at most
                    1000)
  --steps=S         steps of the tiny model per run (default 2000, from 10 to 10^8)
  --workers=LIST    worker counts from 1 to 64, comma-separated (default 1,2,4,8)
  --no-mnist        skip the MNIST rows
  --dsq=PATH        the dsq binary under test (default: this build's)
  --old-dsq=PATH    run the "old" rows with another binary (e.g. a build of an older commit)
                    instead of passing CAF's defaults (and --tcp=caf) to the same binary
  --help            this text
)";

/// `text` as a whole number from `least` to `most`, or an error that names `option`.
long whole_number(const std::string& option, const std::string& text, long least, long most) {
  std::size_t used = 0;
  long n = 0;
  try {
    n = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || n < least || n > most)
    throw std::invalid_argument(fmt::format("{}: expected a whole number from {} to {}, got '{}'",
                                            option, least, most, text));
  return n;
}

bench_options parse(int argc, char** argv) {
  bench_options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* key) -> std::optional<std::string> {
      std::string prefix = std::string{key} + "=";
      if (a.rfind(prefix, 0) == 0)
        return a.substr(prefix.size());
      return std::nullopt;
    };
    if (a == "--help" || a == "-h") {
      o.help = true;
    } else if (a == "--quick") {
      o.quick = true;
      o.repeats = 1;
      o.steps = 1000;
      o.workers = {1, 4};
    } else if (a == "--no-mnist") {
      o.mnist = false;
    } else if (auto v = value("--repeats")) {
      o.repeats = static_cast<int>(whole_number("--repeats", *v, 1, 1000));
    } else if (auto v = value("--steps")) {
      o.steps = whole_number("--steps", *v, 10, 100000000);
    } else if (auto v = value("--dsq")) {
      o.dsq = *v;
    } else if (auto v = value("--old-dsq")) {
      o.old_dsq = *v;
    } else if (auto v = value("--workers")) {
      o.workers.clear();
      std::stringstream list{*v};
      std::string item;
      while (std::getline(list, item, ','))
        o.workers.push_back(static_cast<int>(whole_number("--workers", item, 1, 64)));
      if (o.workers.empty())
        throw std::invalid_argument("--workers: expected worker counts such as 1,4");
    } else {
      throw std::invalid_argument("unknown argument '" + a + "' (see --help)");
    }
  }
  return o;
}

} // namespace

int main(int argc, char** argv) {
  bench_options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cross_process_bench: error: {}\n", e.what());
    return 2;
  }
  if (o.help) {
    fmt::print("{}", usage);
    return 0;
  }
  // dsq finds MNIST in data/mnist of its working directory or of DSQ_SOURCE_DIR.
  if (std::getenv("DSQ_DATA_DIR") == nullptr && std::getenv("DSQ_SOURCE_DIR") == nullptr)
    setenv("DSQ_SOURCE_DIR", DSQ_SOURCE_DIR, 1);
  signal(SIGINT, on_interrupt);
  signal(SIGTERM, on_interrupt);
  o.dir = fs::temp_directory_path() / fmt::format("cross_process_bench.{}", getpid());
  fs::create_directories(o.dir);
  const auto settings = settings_of(o);
  fmt::print("cross_process_bench: {} hardware threads, load average {} (other work may run: "
             "compare ratios within this run)\n",
             std::thread::hardware_concurrency(), load_average());
  fmt::print("  old = {} {} (server/worker also {})\n", settings[0].binary,
             fmt::join(settings[0].extra, " "), fmt::join(settings[0].network_extra, " "));
  auto local_defaults = runtime_default_arguments(runtime_role::local);
  // The worker's process settings are options of dsq worker, not CAF settings: named too, so
  // that the line says everything "new" changes.
  const run_config worker_defaults;
  fmt::print("  new = {} (dsq's runtime defaults: server/worker {} --tcp={}; worker "
             "--placement={} --scheduling={}; local {})\n",
             settings[1].binary, fmt::join(runtime_default_arguments(runtime_role::server), " "),
             worker_defaults.tcp, worker_defaults.placement, worker_defaults.scheduling,
             local_defaults.empty() ? std::string{"CAF's own"}
                                    : fmt::format("{}", fmt::join(local_defaults, " ")));
  fmt::print("  {} repeats, interleaved; medians\n", o.repeats);

  // The compute of a step (this process, one core) and the message sizes.
  const int reps = o.quick ? 300 : 2000;
  std::map<int, compute_breakdown> compute;
  for (int n : o.workers)
    compute[n] = measure_compute(tiny_model, n, reps);
  const auto& c1 = compute.begin()->second;
  fmt::print("\ntiny model: push {} B, update {} B; per step on one core: gradient {:.1f} us, "
             "compress+encode {:.1f} us, CAF (de)serialization of a payload {:.1f} us, apply "
             "{:.1f} us\n",
             c1.push_bytes, c1.update_bytes, c1.gradient_us, c1.compress_us, c1.caf_ser_us,
             c1.apply_us);

  // The tiny model: floor, local and cross-process, old and new, interleaved.
  std::map<std::pair<int, std::string>, per_step> local, cross;
  std::map<int, floor_result> floors;
  const long rounds = o.quick ? 2000 : 5000;
  const bool one_worker = std::find(o.workers.begin(), o.workers.end(), 1) != o.workers.end();
  for (int r = 0; r < o.repeats; ++r) {
    // The one-client round trip is the unit of a goal: measured even when --workers lacks 1.
    if (!one_worker)
      run_floor(o, 1, c1.push_bytes, c1.update_bytes, rounds, floors[1]);
    for (int n : o.workers) {
      run_floor(o, n, c1.push_bytes, c1.update_bytes, rounds, floors[n]);
      auto order = settings;
      if (r % 2 == 1)
        std::reverse(order.begin(), order.end());
      for (const auto& s : order) {
        auto full = run_dsq(o, s, true, n, o.steps, tiny_model);
        auto startup = run_dsq(o, s, true, n, 1, tiny_model);
        local[{n, s.name}].add(full, startup, o.steps);
        full = run_dsq(o, s, false, n, o.steps, tiny_model);
        startup = run_dsq(o, s, false, n, 1, tiny_model);
        cross[{n, s.name}].add(full, startup, o.steps);
      }
    }
    fmt::print("  repeat {} of {} done, load average {}\n", r + 1, o.repeats, load_average());
  }

  fmt::print("\nTiny model (softmax, synthetic:n=4000,d=20,classes=4, sign), {} steps; µs per "
             "step (wall), CPU µs per step and wake-ups per step over all processes\n",
             o.steps);
  fmt::print("{:>7} {:>8} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6} | "
             "{:>9} {:>9} {:>9}\n",
             "workers", "setting", "local us", "cpu", "wakes", "cross us", "cpu", "wakes", "tcp us",
             "cpu", "wakes", "cross/loc", "cross/rtt", "cross/tcp");
  const double rtt = floors.count(1) ? median(floors[1].us) : 0;
  for (int n : o.workers) {
    for (const auto& s : settings) {
      auto& l = local[{n, s.name}];
      auto& x = cross[{n, s.name}];
      auto& f = floors[n];
      double lw = median(l.wall_us), xw = median(x.wall_us), fw = median(f.us);
      fmt::print("{:>7} {:>8} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6} | {:>9} {:>7} {:>6} | {:>9} "
                 "{:>9} {:>9}\n",
                 n, s.name, figure(l.wall_us), figure(l.cpu_us), figure(l.wakeups),
                 figure(x.wall_us), figure(x.cpu_us), figure(x.wakeups), figure(f.us),
                 figure(f.cpu_us), figure(f.wakeups), ratio(xw, lw), ratio(xw, rtt), ratio(xw, fw));
    }
  }
  fmt::print("(tcp: raw_tcp_floor with as many clients, same message sizes; cross/rtt: the step "
             "in raw TCP round trips of one client, {:.1f} us)\n",
             rtt);
  for (int n : o.workers) {
    double old_x = median(cross[{n, "old"}].wall_us), new_x = median(cross[{n, "new"}].wall_us);
    double old_l = median(local[{n, "old"}].wall_us), new_l = median(local[{n, "new"}].wall_us);
    fmt::print("{} workers: new vs old: cross-process {} faster, local {} faster\n", n,
               ratio(old_x, new_x), ratio(old_l, new_l));
  }

  if (local.count({4, "new"}) && floors.count(1)) {
    double x = median(cross[{4, "new"}].wall_us), l = median(local[{4, "new"}].wall_us);
    if (x <= 0 || l <= 0 || rtt <= 0)
      fmt::print("goal, 4 worker processes, new: not measured (runs failed)\n");
    else
      fmt::print("goal, 4 worker processes, new: step <= 3x dsq local: {:.2f}x ({}); <= 4 raw TCP "
                 "round trips: {:.2f} ({})\n",
                 x / l, x <= 3 * l ? "met" : "NOT met", x / rtt, x <= 4 * rtt ? "met" : "NOT met");
  }

  // Breakdown of one cross-process step with the new settings.
  for (int n : o.workers) {
    const auto& c = compute[n];
    double x = median(cross[{n, "new"}].wall_us);
    double f = median(floors[n].us);
    // The critical path of compute: every worker's gradient on 2 cores (ceil(n / cores) rounds),
    // the server's aggregation, one apply on the worker.
    const auto cores = std::max(1u, std::thread::hardware_concurrency());
    const double rounds_per_core = std::ceil(static_cast<double>(n) / cores);
    double worker = rounds_per_core * c.worker_us();
    double ser = 2 * c.caf_ser_us;
    double rest = x - worker - c.aggregate_us - ser - f;
    if (x <= 0 || f <= 0) {
      fmt::print("breakdown, {} workers, new: not measured (runs failed)\n", n);
      continue;
    }
    fmt::print(
        "breakdown, {} workers, new: step {:.1f} us = worker compute {:.1f} + server "
        "aggregation {:.1f} + CAF serialization {:.1f} + TCP transport floor {:.1f} + "
        "the rest {:.1f} (CAF's work per message, the kernel's beyond raw TCP's, waiting for "
        "a CPU: see the steady state below)\n",
        n, x, worker, c.aggregate_us, ser, f, rest);
  }

  // The same step seen from the processes: where each spends it, in the steady state.
  fmt::print("\nsteady state: per step and process, over {} of a running cross-process run of "
             "the tiny model\n",
             o.quick ? "0.5 s" : "1.5 s");
  fmt::print("  {:<12} {:>8} {:>8} {:>8} {:>10} {:>8}\n", "", "CPU us", "user", "kernel",
             "runnable", "blocks");
  for (int n : o.workers) {
    for (const auto& s : settings) {
      auto st = measure_steady_state(o, s, n);
      if (!st.ok)
        continue;
      fmt::print("{} workers, {}: {:.0f} steps of {:.1f} us\n", n, s.name, st.steps,
                 st.us_per_step);
      print_times("server", st.server, st.steps, 1);
      print_times("each worker", st.workers, st.steps, n);
      const auto& c = compute[n];
      const double cores = std::max(1u, std::thread::hardware_concurrency());
      const double cpu = 1e-3 * (st.server.run_ns + st.workers.run_ns) / st.steps;
      fmt::print("  all processes: {:.1f} us of CPU per step, {:.1f} us of wall on {:.0f} CPUs; "
                 "of it dsq's compute {:.1f} (a worker's {:.1f}, the server's {:.1f})\n",
                 cpu, cpu / cores, cores, n * c.worker_us() + c.aggregate_us, c.worker_us(),
                 c.aggregate_us);
    }
  }
  fmt::print("(CPU: on a CPU; user and kernel split it as the kernel's tick samples do; "
             "runnable: ready but waiting for a CPU; blocks: waits for a message or a timer, "
             "each ended by a wake-up)\n");

  if (o.mnist) {
    fmt::print("\nMNIST mlp:hidden=128, batch 32, 4 worker processes\n");
    const long steps = o.quick ? 150 : 500;
    std::map<std::string, std::vector<double>> steps_per_s, cpu;
    for (int r = 0; r < std::max(1, o.repeats - 1); ++r) {
      auto order = settings;
      if (r % 2 == 1)
        std::reverse(order.begin(), order.end());
      for (const auto& s : order) {
        auto full = run_dsq(o, s, false, 4, steps, mnist_model);
        auto startup = run_dsq(o, s, false, 4, 1, mnist_model);
        if (full.ok && startup.ok) {
          steps_per_s[s.name].push_back(1e6 / full.us_per_step);
          cpu[s.name].push_back((full.used.cpu_us - startup.used.cpu_us) /
                                static_cast<double>(steps - 1));
        }
      }
    }
    for (const auto& s : settings)
      fmt::print("{:>8}: {:.1f} steps/s, CPU {:.0f} us per step\n", s.name,
                 median(steps_per_s[s.name]), median(cpu[s.name]));
    double o_sps = median(steps_per_s["old"]), n_sps = median(steps_per_s["new"]);
    if (o_sps > 0 && n_sps > 0)
      fmt::print("new vs old: {:.2f}x the steps per second (goal >= 1.6x: {})\n", n_sps / o_sps,
                 n_sps >= 1.6 * o_sps ? "met" : "NOT met");
  }

  fmt::print("\nWaiting processes (% of one core over 1 s; tiny model, 2 workers, one of them "
             "stopped with SIGSTOP)\n");
  for (const auto& s : settings) {
    auto idle = measure_idle(o, s);
    if (idle.server_waiting_for_workers < 0 || idle.server_waiting_for_push < 0) {
      fmt::print("{:>8}: not measured (the run failed)\n", s.name);
      continue;
    }
    fmt::print("{:>8}: server before any worker {:.2f}%, server waiting for a push {:.2f}%, "
               "worker waiting for the update {:.2f}%\n",
               s.name, idle.server_waiting_for_workers, idle.server_waiting_for_push,
               idle.worker_waiting_for_update);
  }
  fmt::print("\nload average at the end: {}\n", load_average());
  std::error_code ec;
  // A figure of a failed run is missing, not measured: the bench does not report success.
  if (any_failed) {
    fmt::print("some runs failed; their outputs are in {}\n", o.dir.string());
    return 1;
  }
  fs::remove_all(o.dir, ec);
  return 0;
}
