// Throughput of every compression operator at every SIMD level the machine supports, against a
// plain memcpy of the same buffer measured in the same run, so that the ratio means something
// on a shared machine. Columns (GB/s counts the float input, 4 bytes per coordinate):
//
//   encode      compress_into(v, rng, m), m kept across calls (what the engines do every step)
//   +wire       the same, then to_bytes(m, bytes) into a kept byte buffer
//   push        compress_into, then to_bytes(m) into a fresh vector: what one push costs in
//               training/worker_engine.cpp today, where the bytes leave with the message
//   decode      decompress(m, out)
//   wire+dec    from_bytes_into(bytes, m) with m kept, then decompress (a worker's update)
//   faults      page faults of one `push`: fresh output memory the kernel maps page by page
//
// Each figure is the fastest of several repetitions, the usual defence against other
// processes' noise. Each level's message and decoded values are checked against v2's, the
// scalar reference, bit for bit; a difference fails the run.

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <sys/resource.h>

namespace {

using clock_type = std::chrono::steady_clock;

// Best time in seconds over enough repetitions to fill about `budget` seconds (at least 3).
template <class Work>
double best_seconds(Work&& work, double budget = 0.15) {
  double best = 1e300;
  double spent = 0;
  for (int rep = 0; rep < 3 || (spent < budget && rep < 50); ++rep) {
    const auto start = clock_type::now();
    work();
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    best = std::min(best, seconds);
    spent += seconds;
  }
  return best;
}

// Keeps the optimiser from discarding work whose result is otherwise unused.
std::size_t sink = 0;

void keep(std::size_t value) {
  asm volatile("" : : "r"(value) : "memory");
  sink += value;
}

long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt + usage.ru_majflt;
}

// Set when a level's results differ from the reference's.
bool mismatch = false;

struct timings {
  double encode, encode_wire, push, decode, wire_decode;
  long faults;
};

timings measure(const dsq::compressor& op, const std::vector<float>& v, std::vector<float>& out) {
  dsq::rng_engine rng{7};
  dsq::compressed_message m;
  std::vector<std::uint8_t> bytes;
  op.compress_into(v, rng, m);
  dsq::to_bytes(m, bytes);
  timings t{};
  t.encode = best_seconds([&] {
    op.compress_into(v, rng, m);
    keep(m.dim);
  });
  t.encode_wire = best_seconds([&] {
    op.compress_into(v, rng, m);
    dsq::to_bytes(m, bytes);
    keep(bytes.size());
  });
  t.push = best_seconds([&] {
    op.compress_into(v, rng, m);
    keep(dsq::to_bytes(m).size());
  });
  const long faults_before = page_faults();
  op.compress_into(v, rng, m);
  keep(dsq::to_bytes(m).size());
  t.faults = page_faults() - faults_before;
  t.decode = best_seconds([&] {
    dsq::decompress(m, out);
    keep(static_cast<std::size_t>(out[out.size() / 3] != 0));
  });
  dsq::to_bytes(m, bytes);
  dsq::compressed_message received;
  t.wire_decode = best_seconds([&] {
    dsq::from_bytes_into(bytes, received, {.max_dimension = 1u << 30});
    dsq::decompress(received, out);
    keep(static_cast<std::size_t>(out[out.size() / 3] != 0));
  });
  return t;
}

void run(std::size_t d) {
  using dsq::simd_level;
  std::vector<float> v(d);
  dsq::rng_engine data_rng{2024};
  std::normal_distribution<float> normal;
  for (auto& x : v)
    x = normal(data_rng);
  std::vector<float> copy(d, 1.0f), out(d, 0.0f);

  const double bytes = 4.0 * double(d);
  const double memcpy_seconds = best_seconds([&] {
    std::memcpy(copy.data(), v.data(), static_cast<std::size_t>(bytes));
    keep(static_cast<std::size_t>(copy[d / 2] != 0));
  });
  fmt::print("\nd = {:.0e} ({} MB of floats); memcpy {:.2f} GB/s; figures are x memcpy\n\n",
             double(d), static_cast<std::size_t>(bytes / 1e6), bytes / memcpy_seconds / 1e9);
  fmt::print("| operator | level | encode | +wire | push | decode | wire+dec | wire bytes/coord | "
             "faults/push | same bits as v2 |\n");
  fmt::print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  const simd_level chosen = dsq::active_simd_level();
  for (const std::string spec :
       {"identity", "fp16", "qsgd:s=16", "qsgd:s=255", "sign", "sign:block=4096", "topk:k=0.01",
        "randomk:k=0.01", "randomk:k=0.01,shared_seed=1"}) {
    const auto op = dsq::make_compressor(spec);
    std::vector<std::uint8_t> reference_bytes;
    std::vector<float> reference_values;
    for (const simd_level level : dsq::all_simd_levels) {
      if (!dsq::machine_simd_levels().contains(level))
        continue;
      dsq::force_simd_level(level);
      dsq::rng_engine rng{7};
      const auto m = op->compress(v, rng);
      dsq::decompress(m, out);
      const auto wire = dsq::to_bytes(m);
      if (reference_bytes.empty()) {
        reference_bytes = wire;
        reference_values = out;
      }
      const bool same =
          wire == reference_bytes && std::memcmp(out.data(), reference_values.data(), 4 * d) == 0;
      mismatch = mismatch || !same;
      const timings t = measure(*op, v, out);
      const auto ratio = [&](double seconds) { return memcpy_seconds / seconds; };
      fmt::print("| {} | {}{} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.4f} | {} | {} |\n",
                 spec, dsq::name(level), level == chosen ? " (chosen)" : "", ratio(t.encode),
                 ratio(t.encode_wire), ratio(t.push), ratio(t.decode), ratio(t.wire_decode),
                 double(wire.size()) / double(d), t.faults, same ? "yes" : "NO");
    }
  }
  dsq::force_simd_level(chosen);
}

} // namespace

int main(int argc, char** argv) {
  // Dimensions may be given on the command line; the default is the pair the goals refer to.
  std::vector<std::size_t> dims;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      fmt::print("usage: bench_compression [D...]\n"
                 "Encode and decode throughput of every operator for vectors of D coordinates "
                 "(default 1e6 and 1e7), next to memcpy.\n");
      return 0;
    }
    std::size_t used = 0;
    double d = 0;
    try {
      d = std::stod(a, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != a.size() || !(d >= 1) || d > 1e9) {
      fmt::print(stderr, "bench_compression: '{}' is no dimension (1 to 1e9; see --help)\n", a);
      return 2;
    }
    dims.push_back(static_cast<std::size_t>(d));
  }
  if (dims.empty())
    dims = {1000000, 10000000};
  try {
    const char* forced = std::getenv("DSQ_SIMD");
    fmt::print("SIMD: {} chosen (machine supports {}; DSQ_SIMD {})\n",
               dsq::name(dsq::active_simd_level()), dsq::machine_simd_levels().to_string(),
               forced ? fmt::format("= {}", forced) : std::string{"unset"});
  } catch (const dsq::simd_level_error& e) {
    fmt::print(stderr, "bench_compression: {}\n", e.what());
    return 2;
  }
  for (const auto d : dims)
    run(d);
  if (mismatch) {
    fmt::print(stderr, "bench_compression: a SIMD level's results differ from v2's (see the "
                       "tables' last column)\n");
    return 1;
  }
}
