// Throughput of every compression operator against a plain memcpy of the same buffer, measured
// in the same run so that the ratio means something on a shared machine.
//
//   encode     compress(v)                      decode     decompress(m)
//   encode+w   compress(v) then to_bytes         decode+w   from_bytes then decompress
//
// GB/s counts the float input (4 bytes per coordinate) in every column; each figure is the
// fastest of several repetitions, the usual defence against other processes' noise. "faults"
// counts the page faults of one encode: fresh output memory the kernel maps page by page.
//
// Then, for the operators whose kernels differ by SIMD level (fp16, qsgd), the same at every
// level the machine supports, forced one after the other: through compress() and decompress(),
// and the kernels alone writing into memory they already own (what the level's code costs
// without the allocation of a message). Each level's message and decoded values are checked
// against v2's, the scalar reference, bit for bit; a difference fails the run.

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "compression/compressor.hpp"
#include "compression/detail/kernels.hpp"
#include "compression/make_compressor.hpp"
#include "compression/payload_layout.hpp"
#include "compression/wire.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
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

long page_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt + usage.ru_majflt;
}

// Set when a level's results differ from the reference's.
bool mismatch = false;

// The per-level table for the operators with level-specific kernels.
void run_levels(const std::vector<float>& v, double memcpy_seconds) {
  using dsq::simd_level;
  const std::size_t d = v.size();
  const double bytes = 4.0 * double(d);
  const simd_level chosen = dsq::active_simd_level();
  std::vector<float> out(d, 0.0f);
  fmt::print("\nPer SIMD level (compress/decompress; then the kernels alone, into memory they "
             "own):\n\n");
  fmt::print("| operator | level | encode GB/s | × memcpy | decode GB/s | × memcpy | "
             "kernel encode × memcpy | kernel decode × memcpy | same bits as v2 |\n");
  fmt::print("|---|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const std::string spec : {"fp16", "qsgd:s=16"}) {
    const auto op = dsq::make_compressor(spec);
    std::vector<std::uint8_t> reference_bytes;
    std::vector<float> reference_values(d);
    for (const simd_level level : dsq::all_simd_levels) {
      if (!dsq::machine_simd_levels().contains(level))
        continue;
      dsq::force_simd_level(level);
      const auto& kernels = dsq::detail::kernels_at(level);
      dsq::rng_engine rng{7};
      dsq::compressed_message m = op->compress(v, rng);
      dsq::decompress(m, out);
      const auto wire = dsq::to_bytes(m);
      if (level == dsq::simd_level::v2) {
        reference_bytes = wire;
        reference_values = out;
      }
      const bool same =
          wire == reference_bytes && std::memcmp(out.data(), reference_values.data(), 4 * d) == 0;
      mismatch = mismatch || !same;

      const double encode = best_seconds([&] {
        m = op->compress(v, rng);
        keep(m.values.size());
      });
      const double decode = best_seconds([&] {
        dsq::decompress(m, out);
        keep(static_cast<std::size_t>(out[d / 3] != 0));
      });
      // The kernels alone, on the message's own buffers.
      double kernel_encode = 0, kernel_decode = 0;
      if (m.op == dsq::operator_id::fp16) {
        kernel_encode = best_seconds([&] {
          kernels.fp16_encode(v.data(), m.halves.data(), d);
          keep(m.halves[d / 2]);
        });
        kernel_decode = best_seconds([&] {
          kernels.fp16_decode(m.halves.data(), out.data(), d, {});
          keep(static_cast<std::size_t>(out[d / 3] != 0));
        });
      } else {
        const unsigned level_bits = dsq::qsgd_bits_per_coordinate(m.levels) - 1;
        kernel_encode = best_seconds([&] {
          // The norm, then the fields: all of compress() but the message's allocation.
          const auto norm = static_cast<float>(std::sqrt(kernels.sum_of_squares(v.data(), d)));
          std::fill(m.bits.begin(), m.bits.end(), 0);
          kernels.qsgd_encode(v.data(), d,
                              {.levels = m.levels,
                               .level_bits = level_bits,
                               .levels_per_unit = static_cast<float>(m.levels) / norm},
                              rng, m.bits.data());
          keep(m.bits[m.bits.size() / 2]);
        });
        kernel_decode = best_seconds([&] {
          kernels.qsgd_decode(m.bits.data(), d, level_bits, m.values[0] / float(m.levels),
                              out.data(), {});
          keep(static_cast<std::size_t>(out[d / 3] != 0));
        });
      }
      fmt::print("| {} | {}{} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} |\n", spec,
                 dsq::name(level), level == chosen ? " (chosen)" : "", bytes / encode / 1e9,
                 memcpy_seconds / encode, bytes / decode / 1e9, memcpy_seconds / decode,
                 memcpy_seconds / kernel_encode, memcpy_seconds / kernel_decode,
                 same ? "yes" : "NO");
    }
  }
  dsq::force_simd_level(chosen);
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
             "decode+wire GB/s | wire bytes/coord | faults/encode |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  fmt::print("| memcpy | {:.2f} | 1.00 | | {:.2f} | 1.00 | | 4 | 0 |\n", memcpy_rate, memcpy_rate);

  for (const std::string spec : {"identity", "fp16", "sign", "sign:block=4096", "topk:k=0.01",
                                 "randomk:k=0.01", "randomk:k=0.01,shared_seed=1", "qsgd:s=16"}) {
    const auto op = dsq::make_compressor(spec);
    dsq::rng_engine rng{7};
    dsq::compressed_message m = op->compress(v, rng);
    // A few untimed rounds first: glibc serves the first large messages from fresh mappings
    // (page faults) until its mmap threshold has grown to their size.
    for (int warm_up = 0; warm_up < 4; ++warm_up)
      m = op->compress(v, rng);
    const auto wire = dsq::to_bytes(m);

    const double encode = best_seconds([&] {
      m = op->compress(v, rng);
      keep(m.values.size());
    });
    const long faults_before = page_faults();
    m = op->compress(v, rng);
    const long faults = page_faults() - faults_before;
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
    fmt::print("| {} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.4f} | {} |\n", spec,
               rate(encode), memcpy_seconds / encode, rate(encode_wire), rate(decode),
               memcpy_seconds / decode, rate(decode_wire), double(wire.size()) / double(d), faults);
  }
  run_levels(v, memcpy_seconds);
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
