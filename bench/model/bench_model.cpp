// Figures for docs/model.md.
//
//   bench_model            gradient throughput of the MLP 784-256-128-10 (and softmax) on one
//                          core, and the share of it spent in the matrix products; samples/s
//                          of the convolutional network (cnn) beside it
//   bench_model --train    plain SGD on MNIST, test accuracy after every epoch
//                          (options: --epochs N, default 5)
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

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

// Seconds per call of f and of g: the best of several rounds of about 0.2 s each, the two
// interleaved round by round. The machine is shared with other work: the best round is the
// least disturbed one, and interleaving exposes both to the same disturbances.
template <class F, class G>
std::pair<double, double> time_per_call(F f, G g, int rounds = 9, double round_seconds = 0.2) {
  auto one_round = [round_seconds](auto& h) {
    std::size_t calls = 0;
    const auto start = clock_type::now();
    double elapsed = 0;
    do {
      h();
      ++calls;
      elapsed = seconds_since(start);
    } while (elapsed < round_seconds);
    return elapsed / double(calls);
  };
  for (int i = 0; i < 3; ++i) {
    f();
    g();
  }
  double best_f = 1e30, best_g = 1e30;
  for (int r = 0; r < rounds; ++r) {
    best_f = std::min(best_f, one_round(f));
    best_g = std::min(best_g, one_round(g));
  }
  return {best_f, best_g};
}

// The matrix products of one forward and backward pass of a network with the given layer
// sizes, alone: the same shapes as in multilayer_perceptron::loss_and_gradient, nothing else.
struct gemm_only {
  std::vector<Eigen::MatrixXf> w, a, z, dw, below;

  gemm_only(const std::vector<Eigen::Index>& sizes, Eigen::Index batch) {
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      w.push_back(random_matrix(sizes[l + 1], sizes[l], l));
      a.push_back(random_matrix(sizes[l], batch, 10 + l)); // input of layer l
      z.emplace_back(sizes[l + 1], batch);
      dw.emplace_back(sizes[l + 1], sizes[l]);
      below.emplace_back(sizes[l], batch);
    }
  }

  void operator()() {
    const auto layers = w.size();
    for (std::size_t l = 0; l < layers; ++l)
      z[l].noalias() = w[l] * a[l];
    for (std::size_t l = layers; l-- > 0;) {
      dw[l].noalias() = z[l] * a[l].transpose();
      if (l > 0)
        below[l].noalias() = w[l].transpose() * z[l];
    }
  }
};

void gradient_throughput() {
  fmt::print("Gradient throughput on one core (Eigen {}.{}.{}, SIMD: {})\n\n", EIGEN_WORLD_VERSION,
             EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse());
  fmt::print("{:<22} {:>6} {:>14} {:>12} {:>16}\n", "model", "batch", "samples/s", "us/batch",
             "GEMM share");
  const int classes = 10;
  const Eigen::Index d = 784;
  for (const char* spec : {"mlp:hidden=256,128", "softmax"}) {
    const auto m = dsq::make_model(spec, d, classes);
    Eigen::VectorXf params(Eigen::Index(m->num_parameters())), grad(params.size());
    m->initialize(params, 1);
    for (Eigen::Index batch : {32, 128, 512}) {
      const auto x = random_matrix(d, batch, 7);
      std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
      for (std::size_t i = 0; i < y.size(); ++i)
        y[i] = std::int32_t(i % classes);
      const auto sizes = std::string(spec) == "softmax"
                             ? std::vector<Eigen::Index>{d, classes}
                             : std::vector<Eigen::Index>{d, 256, 128, classes};
      gemm_only products(sizes, batch);
      const auto [per_batch, gemm] =
          time_per_call([&] { m->loss_and_gradient(params, x, y, grad); }, products);
      fmt::print("{:<22} {:>6} {:>14.0f} {:>12.1f} {:>15.0f}%\n", spec, batch,
                 double(batch) / per_batch, per_batch * 1e6, 100.0 * gemm / per_batch);
    }
  }
  fmt::print("\nGEMM share: time of the layer's matrix products alone (same shapes, forward and "
             "backward) over the time of loss_and_gradient.\n");
}

// The convolutional network has no GEMM-only twin here (its im2col copies are part of the
// method); its samples/s set against the MLP's show how much more compute a step carries.
void cnn_throughput() {
  fmt::print("\nConvolutional network on 28 x 28 images, one core\n\n");
  fmt::print("{:<32} {:>10} {:>6} {:>12} {:>12}\n", "model", "params", "batch", "samples/s",
             "ms/batch");
  const int classes = 10;
  const Eigen::Index d = 784;
  for (const char* spec : {"cnn:channels=16,32,hidden=256", "cnn:channels=32,64,hidden=1024"}) {
    const auto m = dsq::make_model(spec, d, classes);
    Eigen::VectorXf params(Eigen::Index(m->num_parameters())), grad(params.size());
    m->initialize(params, 1);
    for (Eigen::Index batch : {32, 128}) {
      const auto x = random_matrix(d, batch, 7);
      std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
      for (std::size_t i = 0; i < y.size(); ++i)
        y[i] = std::int32_t(i % classes);
      auto step = [&] { m->loss_and_gradient(params, x, y, grad); };
      const auto [per_batch, unused] = time_per_call(
          step, [] {}, 3, 0.3);
      (void)unused;
      fmt::print("{:<32} {:>10} {:>6} {:>12.0f} {:>12.2f}\n", spec, m->num_parameters(), batch,
                 double(batch) / per_batch, per_batch * 1e3);
    }
  }
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
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--train") == 0) {
      train = true;
    } else if (std::strcmp(argv[i], "--epochs") == 0 && i + 1 < argc) {
      epochs = std::strtoul(argv[++i], nullptr, 10);
    } else {
      fmt::print(stderr, "usage: {} [--train [--epochs N]]\n", argv[0]);
      return 2;
    }
  }
  if (train)
    train_on_mnist(epochs);
  else {
    gradient_throughput();
    cnn_throughput();
  }
  return 0;
}
