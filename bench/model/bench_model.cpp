// Figures for docs/model.md.
//
//   bench_model            gradient throughput of the MLPs, softmax and the CNNs on one core at
//                          every SIMD level the machine has: samples/s, GFLOP/s, and the ratio
//                          to the peak of that level, measured in the same run
//   bench_model --train    plain SGD on MNIST, test accuracy after every epoch
//                          (options: --epochs N, default 5)
//   bench_model --model SPEC   the gradient throughput of that one model spec only
//   bench_model --level L      ... at that SIMD level only (v2, v3, v4)
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "fma_peak.hpp"
#include "model/data_rng.hpp"
#include "model/load_dataset.hpp"
#include "model/make_model.hpp"
#include "model/minibatch_sampler.hpp"
#include "model/mnist.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

Eigen::MatrixXf random_matrix(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  dsq::data_rng rng(seed);
  Eigen::MatrixXf m(rows, cols);
  for (auto& v : m.reshaped())
    v = static_cast<float>(rng.uniform());
  return m;
}

// Seconds of the thread's CPU time per call of f: the best of `rounds` rounds of about
// `round_seconds` each. The machine is shared: CPU time leaves out the time other processes
// hold the core, and the best round is the least disturbed one.
template <class F>
double cpu_seconds_per_call(F f, int rounds, double round_seconds) {
  f(); // warm-up: buffers, caches
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    std::size_t calls = 0;
    const double start = dsq::bench::thread_cpu_seconds();
    double elapsed = 0;
    do {
      f();
      ++calls;
      elapsed = dsq::bench::thread_cpu_seconds() - start;
    } while (elapsed < round_seconds);
    best = std::min(best, elapsed / double(calls));
  }
  return best;
}

// Floating-point operations of one sample's forward and backward pass through dense layers of
// the given sizes (input first): every layer's product forward and its weights' gradient, and
// the gradient with respect to its input for every layer but the first.
double dense_flops(const std::vector<double>& sizes) {
  double flops = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l)
    flops += 2 * sizes[l] * sizes[l + 1] * (l == 0 ? 2 : 3);
  return flops;
}

// The same for cnn:channels=c1,c2,hidden=h on 28 x 28 images: the two convolutions are
// products of (c_out x c_in * 25) by (c_in * 25 x pixels), as cnn.cpp computes them.
double cnn_flops(double c1, double c2, double hidden) {
  const double conv1 = 2 * c1 * 25 * 784, conv2 = 2 * c2 * c1 * 25 * 196;
  const double dense = 2 * hidden * c2 * 49, out = 2 * 10 * hidden;
  return 2 * conv1 + 3 * (conv2 + dense + out);
}

struct bench_case {
  const char* spec;
  double flops_per_sample;
  std::vector<Eigen::Index> batches;
};

// samples/s and GFLOP/s of loss_and_gradient per model, batch and SIMD level, against the
// peak of each level measured in this run.
void gradient_throughput(const std::string& only, std::optional<dsq::simd_level> only_level) {
  const int classes = 10;
  const Eigen::Index d = 784;
  const std::vector<bench_case> cases{
      {"mlp:hidden=128", dense_flops({784, 128, 10}), {32, 128}},
      {"mlp:hidden=256,128", dense_flops({784, 256, 128, 10}), {32, 128, 512}},
      {"softmax", dense_flops({784, 10}), {32, 128}},
      {"cnn:channels=16,32,hidden=256", cnn_flops(16, 32, 256), {32, 128}},
      {"cnn:channels=32,64,hidden=1024", cnn_flops(32, 64, 1024), {32, 128}},
  };
  std::vector<dsq::simd_level> levels;
  for (const auto level : dsq::all_simd_levels)
    if (dsq::machine_simd_levels().contains(level) && (!only_level || level == *only_level))
      levels.push_back(level);
  if (levels.empty()) {
    fmt::print("--level {}: this machine does not have it ({})\n", dsq::name(*only_level),
               dsq::machine_simd_levels().to_string());
    return;
  }
  fmt::print("Gradient (loss_and_gradient) on one core at every SIMD level this machine has "
             "({}); the\nbaseline build's Eigen does the rest (SIMD: {}).\n\n",
             dsq::machine_simd_levels().to_string(), Eigen::SimdInstructionSetsInUse());
  std::vector<double> peaks;
  for (const auto level : levels) {
    peaks.push_back(dsq::bench::measured_peak_flops(level));
    fmt::print("peak {}: {:6.1f} GFLOP/s (a loop of independent {} on registers)\n",
               dsq::name(level), peaks.back() * 1e-9,
               level == dsq::simd_level::v2   ? "SSE multiplies and adds"
               : level == dsq::simd_level::v3 ? "256-bit FMAs"
                                              : "512-bit FMAs");
  }
  fmt::print("\n{:<31} {:>5} {:>5} {:>11} {:>9} {:>9} {:>6}\n", "model", "batch", "level",
             "samples/s", "GFLOP/s", "peak", "ratio");
  if (!only.empty() &&
      std::none_of(cases.begin(), cases.end(), [&](const bench_case& c) { return only == c.spec; }))
    fmt::print("--model {}: not one of the benchmark's models\n", only);
  for (const auto& c : cases) {
    if (!only.empty() && only != c.spec)
      continue;
    const auto m = dsq::make_model(c.spec, d, classes);
    Eigen::VectorXf params(Eigen::Index(m->num_parameters())), grad(params.size());
    m->initialize(params, 1);
    for (const Eigen::Index batch : c.batches) {
      const auto x = random_matrix(d, batch, 7);
      std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
      for (std::size_t i = 0; i < y.size(); ++i)
        y[i] = std::int32_t(i % classes);
      for (std::size_t l = 0; l < levels.size(); ++l) {
        dsq::force_simd_level(levels[l]);
        const double heavy = c.flops_per_sample * double(batch) > 1e8 ? 0.3 : 0.1;
        const double per_batch =
            cpu_seconds_per_call([&] { m->loss_and_gradient(params, x, y, grad); }, 5, heavy);
        const double flops = c.flops_per_sample * double(batch) / per_batch;
        fmt::print("{:<31} {:>5} {:>5} {:>11.0f} {:>9.1f} {:>9.1f} {:>5.0f}%\n", c.spec, batch,
                   dsq::name(levels[l]), double(batch) / per_batch, flops * 1e-9, peaks[l] * 1e-9,
                   100 * flops / peaks[l]);
      }
    }
  }
  dsq::force_simd_level(levels.back());
  fmt::print("\nTimes are the thread's CPU time (best of 5 rounds), not wall time: the machine "
             "may be shared.\nGFLOP/s counts the products' multiply-adds as 2 (forward, weight "
             "gradients, input gradients\nbut the first layer's); peak: the loop above.\n");
}

void train_on_mnist(std::size_t epochs) {
  if (!dsq::mnist_available()) {
    fmt::print("MNIST not found (run scripts/setup.sh, or set DSQ_DATA_DIR); nothing to train\n");
    return;
  }
  const auto data = dsq::load_dataset("mnist", 0);
  fmt::print("Plain SGD on {}\n", data.description);
  struct run {
    const char* model;
    std::size_t batch;
    float lr;
  };
  for (const run r : {run{"mlp:hidden=256,128", 32, 0.1f}, run{"softmax", 32, 0.1f}}) {
    const auto m = dsq::make_model(r.model, data.train.dimension(), data.train.num_classes);
    fmt::print("\n{} ({} parameters), batch {}, lr {:g}, constant schedule\n", r.model,
               m->num_parameters(), r.batch, r.lr);
    Eigen::VectorXf params(Eigen::Index(m->num_parameters())), grad(params.size());
    m->initialize(params, 1);
    std::vector<std::size_t> all(data.train.size());
    std::iota(all.begin(), all.end(), std::size_t{0});
    dsq::minibatch_sampler sampler(all, r.batch, 1);
    Eigen::MatrixXf x;
    std::vector<std::int32_t> y;
    double training_seconds = 0;
    for (std::size_t epoch = 1; epoch <= epochs; ++epoch) {
      const auto start = clock_type::now();
      double loss_sum = 0;
      std::size_t steps = 0;
      while (sampler.epoch() < epoch) {
        dsq::gather(data.train, sampler.next(), x, y);
        loss_sum += m->loss_and_gradient(params, x, y, grad);
        params -= r.lr * grad;
        ++steps;
      }
      training_seconds += seconds_since(start);
      const auto test = dsq::evaluate(*m, params, data.test);
      fmt::print("  epoch {:>2}: train loss {:.4f} (running mean), test loss {:.4f}, "
                 "test accuracy {:.2f}%  [{:.1f} s training so far]\n",
                 epoch, loss_sum / double(steps), test.loss, 100.0 * test.accuracy,
                 training_seconds);
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  bool train = false;
  std::size_t epochs = 5;
  std::string only;
  std::optional<dsq::simd_level> only_level;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--train") == 0) {
      train = true;
    } else if (std::strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
      epochs = std::strtoul(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--level") == 0 && i + 1 < argc &&
               (only_level = dsq::parse_simd_level(argv[i + 1]))) {
      ++i;
    } else {
      fmt::print(stderr, "usage: {} [--model SPEC] [--level v2|v3|v4] | --train [--epochs N]\n",
                 argv[0]);
      return 2;
    }
  }
  if (train)
    train_on_mnist(epochs);
  else {
    gradient_throughput(only, only_level);
  }
  return 0;
}
