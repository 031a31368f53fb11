#pragma once

// What the tests of a follower shard's core share (test_shard_core.cpp, test_shard_checkpoint.cpp):
// the fake clock's start, the leader's set-up of shard 1 of 2, a worker's slice push, and the
// effects of a given kind that come out of the core.

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/shard_core.hpp"
#include "training/training_setup.hpp"

#include <Eigen/Core>

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

namespace dsq::shard_test {

using namespace std::chrono_literals;

/// The fake clock's start.
inline const shard_core::time_point t0 = shard_core::time_point{} + 1h;

/// The model's initial x, as the leader holds it.
inline Eigen::VectorXf initial_x(const run_config& cfg) {
  auto setup = load_training(cfg);
  Eigen::VectorXf x(static_cast<Eigen::Index>(setup.net->num_parameters()));
  setup.net->initialize(x, cfg.seed);
  return x;
}

/// The leader's set-up of shard 1 of 2 at version 0, from the model's initial x.
inline shard_setup setup_of(const run_config& cfg) {
  auto x = initial_x(cfg);
  shard_setup s;
  s.config = cfg;
  s.ranges = split_keys(static_cast<std::uint64_t>(x.size()), 2);
  s.total_steps = 10;
  const auto r = s.ranges[1];
  s.slice.assign(x.data() + r.begin, x.data() + r.end);
  s.momentum.assign(r.size(), 0.0f);
  return s;
}

/// Worker `id`'s slice push for shard 1 on x_step, every coordinate `value`.
inline gradient_push slice_push(const run_config& cfg, std::uint32_t id, std::uint64_t step,
                                std::size_t dim, float value = 0.01f, std::uint64_t grant = 0) {
  std::vector<float> g(dim, value);
  rng_engine rng{1};
  gradient_push p;
  p.worker_id = id;
  p.step = step;
  p.grant = grant;
  p.shard = 1;
  p.payload = to_bytes(make_compressor(resolve_method(cfg).uplink)->compress(g, rng));
  return p;
}

/// The effects of kind E among `fx`.
template <class E>
std::vector<E> effects(const shard_effects& fx) {
  std::vector<E> out;
  for (const auto& e : fx)
    if (const auto* x = std::get_if<E>(&e))
      out.push_back(*x);
  return out;
}

/// The messages of kind M that `fx` sends to the leader.
template <class M>
std::vector<M> to_lead(const shard_effects& fx) {
  std::vector<M> out;
  for (const auto& e : fx)
    if (const auto* s = std::get_if<to_leader>(&e))
      if (const auto* m = std::get_if<M>(&s->what))
        out.push_back(*m);
  return out;
}

} // namespace dsq::shard_test
