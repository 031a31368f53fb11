#pragma once

#include "base/random.hpp"
#include "compression/compressor.hpp"
#include "compression/uniform_below.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace dsq::test {

/// Standard-normal coordinates; the tests only need them reproducible on this machine.
inline std::vector<float> normal_vector(std::size_t d, std::uint64_t seed) {
  rng_engine rng{seed};
  std::normal_distribution<float> normal;
  std::vector<float> v(d);
  for (auto& x : v)
    x = normal(rng);
  return v;
}

inline std::vector<float> decoded(const compressed_message& m) {
  std::vector<float> out(m.dimension());
  decompress(m, out);
  return out;
}

/// v = g + δ;  c = C[v];  δ ← v − c in three passes: what error feedback's fused and deferred
/// passes must equal bit for bit.
inline void feedback_in_three_passes(const compressor& op, std::vector<float>& delta,
                                     const std::vector<float>& g, rng_engine& rng,
                                     compressed_message& c) {
  for (std::size_t j = 0; j < g.size(); ++j)
    delta[j] += g[j];
  op.compress_into(delta, rng, c);
  add_scaled(c, -1.0f, delta);
}

inline double squared_norm(std::span<const float> v) {
  double sum = 0;
  for (const float x : v)
    sum += double(x) * double(x);
  return sum;
}

inline double l1_norm(std::span<const float> v) {
  double sum = 0;
  for (const float x : v)
    sum += std::fabs(double(x));
  return sum;
}

inline double squared_distance(std::span<const float> a, std::span<const float> b) {
  double sum = 0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    const double diff = double(a[j]) - double(b[j]);
    sum += diff * diff;
  }
  return sum;
}

/// Every spec the operators promise to support, with and without their options.
inline const std::vector<std::string>& all_specs() {
  static const std::vector<std::string> specs = {"identity",
                                                 "fp16",
                                                 "sign",
                                                 "sign:block=100",
                                                 "sign:block=5",
                                                 "topk:k=0.01",
                                                 "topk:k=3",
                                                 "randomk:k=0.01",
                                                 "randomk:k=3,unbiased=1",
                                                 "randomk:k=0.1,unbiased=1,shared_seed=1",
                                                 "qsgd:s=1",
                                                 "qsgd:s=16",
                                                 "qsgd:s=255"};
  return specs;
}

} // namespace dsq::test
