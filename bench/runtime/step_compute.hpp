#pragma once

// What the runtime benches run in a loop to time one synchronous step without actors: the run's
// two compression passes, the model's vectors and a sampler over the whole training set, set
// up as dsq's workers and server set them up (bench_runtime, cross_process_bench).

#include "base/random.hpp"
#include "config/method.hpp"
#include "config/run_config.hpp"
#include "model/minibatch_sampler.hpp"
#include "training/double_squeeze.hpp"
#include "training/training_setup.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <numeric>
#include <vector>

namespace dsq::bench {

/// The state of one step's compute: x initialized from `init_seed`, a sampler and a random
/// stream seeded with 1.
struct step_compute {
  step_compute(const run_config& cfg, const training_setup& setup, std::uint64_t init_seed)
      : m{resolve_method(cfg)}, d{setup.net->num_parameters()}, up{m.uplink, m.uplink_residual, d},
        down{m.downlink, m.downlink_residual, d}, x(static_cast<Eigen::Index>(d)), g(x.size()),
        avg(x.size()), sampler{every_index(setup.data->train.size()), cfg.batch, 1} {
    setup.net->initialize(x, init_seed);
  }

  method_switches m;            ///< the run's operators and residual switches
  std::size_t d;                ///< the model's parameter count
  compression_pass up, down;    ///< the worker's pass, the server's pass
  Eigen::VectorXf x, g, avg;    ///< model, gradient, the server's average
  Eigen::VectorXf scratch;      ///< apply_update's buffer
  minibatch_sampler sampler;    ///< over every training sample
  Eigen::MatrixXf bx;           ///< a batch's inputs
  std::vector<std::int32_t> by; ///< a batch's labels
  rng_engine rng{1};            ///< the compressors' random stream

private:
  static std::vector<std::size_t> every_index(std::size_t n) {
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), std::size_t{0});
    return all;
  }
};

} // namespace dsq::bench
