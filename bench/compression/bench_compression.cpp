// Throughput of every compression operator against a plain memcpy of the same buffer, measured
// in the same run so that the ratio means something on a shared machine.
//
//   encode     compress(v)                      decode     decompress(m)
//   encode+w   compress(v) then to_bytes         decode+w   from_bytes then decompress
//
// GB/s counts the float input (4 bytes per coordinate) in every column; each figure is the
// fastest of several repetitions, the usual defence against other processes' noise.

#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace {

using clock_type = std::chrono::steady_clock;

// Best time in seconds over enough repetitions to fill about `budget` seconds (at least 3).
template <class Work>
double best_seconds(Work&& work, double budget = 0.4) {
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

void run(std::size_t d) {
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
  const double memcpy_rate = bytes / memcpy_seconds / 1e9;
  fmt::print("\nd = {:.0e} ({} MB of floats); memcpy {:.2f} GB/s\n\n", double(d),
             static_cast<std::size_t>(bytes / 1e6), memcpy_rate);
  fmt::print("| operator | encode GB/s | × memcpy | encode+wire GB/s | decode GB/s | × memcpy | "
             "decode+wire GB/s | wire bytes/coord |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  fmt::print("| memcpy | {:.2f} | 1.00 | | {:.2f} | 1.00 | | 4 |\n", memcpy_rate, memcpy_rate);

  for (const std::string spec : {"identity", "fp16", "sign", "sign:block=4096", "topk:k=0.01",
                                 "randomk:k=0.01", "randomk:k=0.01,shared_seed=1", "qsgd:s=16"}) {
    const auto op = dsq::make_compressor(spec);
    dsq::rng_engine rng{7};
    dsq::compressed_message m = op->compress(v, rng);
    const auto wire = dsq::to_bytes(m);

    const double encode = best_seconds([&] {
      m = op->compress(v, rng);
      keep(m.values.size());
    });
    const double encode_wire = best_seconds([&] {
      m = op->compress(v, rng);
      keep(dsq::to_bytes(m).size());
    });
    const double decode = best_seconds([&] {
      dsq::decompress(m, out);
      keep(static_cast<std::size_t>(out[d / 3] != 0));
    });
    const double decode_wire = best_seconds([&] {
      dsq::decompress(dsq::from_bytes(wire), out);
      keep(static_cast<std::size_t>(out[d / 3] != 0));
    });
    const auto rate = [&](double seconds) { return bytes / seconds / 1e9; };
    fmt::print("| {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.4f} |\n", spec,
               rate(encode), memcpy_seconds / encode, rate(encode_wire), rate(decode),
               memcpy_seconds / decode, rate(decode_wire), double(wire.size()) / double(d));
  }
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
  for (const auto d : dims)
    run(d);
}
