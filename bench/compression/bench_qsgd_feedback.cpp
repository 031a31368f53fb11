// QSGD's error-feedback step, v = g + δ formed and encoded (compression/error_feedback.cpp), in
// two passes over v as it was (v formed by a loop, then compress_into, whose norm reads v again)
// and in one as now (add_sum_of_squares forms v and sums its squares, compress_into takes the
// sum), at every SIMD level the machine supports, against a memcpy of d floats measured in the
// same run. Each figure is the fastest of several repetitions; δ is reset before each (untimed).
// Both ways' bytes are checked to be the same; a difference fails the run.
//
// usage: bench_qsgd_feedback [D...]   (default 1e6 1e7)

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "bench/compression/dimension_args.hpp"
#include "compression/detail/kernels.hpp"
#include "compression/qsgd.hpp"
#include "compression/wire.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

/// The fastest of `reps` runs of `work`, each after `reset` (not timed).
template <class Reset, class Work>
double best_seconds(int reps, Reset&& reset, Work&& work) {
  double best = 1e300;
  for (int rep = 0; rep < reps; ++rep) {
    reset();
    const auto start = clock_type::now();
    work();
    best = std::min(best, std::chrono::duration<double>(clock_type::now() - start).count());
  }
  return best;
}

bool run(std::size_t d) {
  std::vector<float> g(d), delta0(d), v(d), copy(d);
  dsq::rng_engine data_rng{2024};
  std::normal_distribution<float> normal;
  for (std::size_t j = 0; j < d; ++j) {
    g[j] = normal(data_rng);
    delta0[j] = 0.3f * normal(data_rng);
  }
  const int reps = d > 2'000'000 ? 15 : 60;
  const auto reset = [&] { std::memcpy(v.data(), delta0.data(), 4 * d); };
  bool same = true;
  fmt::print("\nd = {:.0e}: form v + encode, x memcpy of d floats (time)\n\n", double(d));
  fmt::print("| operator | level | two passes | one pass | one / two | memcpy |\n");
  fmt::print("|---|---|---:|---:|---:|---:|\n");
  for (const std::uint32_t levels : {16u, 255u}) {
    const dsq::qsgd_compressor op{levels};
    for (const dsq::simd_level level : dsq::all_simd_levels) {
      if (!dsq::machine_simd_levels().contains(level))
        continue;
      dsq::force_simd_level(level);
      const auto& kernels = dsq::detail::active_kernels();
      dsq::compressed_message m;
      const auto two_passes = [&](dsq::rng_engine& rng) {
        for (std::size_t j = 0; j < d; ++j)
          v[j] += g[j];
        op.compress_into(v, rng, m);
      };
      const auto one_pass = [&](dsq::rng_engine& rng) {
        op.compress_into(v, kernels.add_sum_of_squares(v.data(), g.data(), d), rng, m);
      };
      {
        dsq::rng_engine a{7}, b{7};
        reset();
        two_passes(a);
        const auto expected = dsq::to_bytes(m);
        reset();
        one_pass(b);
        same = same && dsq::to_bytes(m) == expected;
      }
      dsq::rng_engine rng{7};
      const double memcpy_s =
          best_seconds(reps, reset, [&] { std::memcpy(copy.data(), v.data(), 4 * d); });
      const double two = best_seconds(reps, reset, [&] { two_passes(rng); });
      const double one = best_seconds(reps, reset, [&] { one_pass(rng); });
      fmt::print(
          "| qsgd:s={} | {} | {:.2f} ({:.0f} us) | {:.2f} ({:.0f} us) | {:.2f} | {:.0f} us |\n",
          levels, dsq::name(level), memcpy_s / two, two * 1e6, memcpy_s / one, one * 1e6, one / two,
          memcpy_s * 1e6);
    }
  }
  return same;
}

} // namespace

int main(int argc, char** argv) {
  if (dsq::bench::asks_for_help(argc, argv)) {
    fmt::print("usage: bench_qsgd_feedback [D...]\nQSGD's error-feedback step (v = g + delta "
               "formed and encoded) in two passes and in one, per SIMD level, x memcpy; "
               "default D: 1e6 1e7.\n");
    return 0;
  }
  std::vector<std::size_t> dims;
  try {
    dims = dsq::bench::parse_dimensions(argc, argv, {1'000'000, 10'000'000});
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "bench_qsgd_feedback: {}\n", e.what());
    return 2;
  }
  bool same = true;
  for (const auto d : dims)
    same = run(d) && same;
  if (!same) {
    fmt::print(stderr, "bench_qsgd_feedback: one pass gave other bytes than two passes\n");
    return 1;
  }
  return 0;
}
