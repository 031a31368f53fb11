// Throughput of every compression operator at every SIMD level the machine supports, against a
// plain memcpy of the same buffer measured in the same run, so that the ratio means something
// on a shared machine. Columns (GB/s counts the float input, 4 bytes per coordinate):
//
//   encode      compress_into(v, rng, m), m kept across calls (what the engines do every step)
//   push fresh  a worker's push as it was: compress_into, to_bytes(m) into a fresh vector, the
//               gradient_push moved into a CAF message, the message released (acknowledged)
//   push kept   a worker's push now: the same, the bytes written into the payload that the
//               last released message gave back (take_push_payload, worker_engine's
//               recycle_payload)
//   +CAF copy   push kept, then the message's gradient_push serialised as CAF's middleman does
//               for a remote receiver (binary_serializer into a kept buffer): encode and hand
//               to the transport. `CAF share` is the serialisation's part of that time.
//   decode      decompress(m, out)
//   wire+dec    from_bytes_into(bytes, m) with m kept, then decompress (a worker's update)
//   faults      page faults of one push fresh / one push kept: fresh output memory the kernel
//               maps page by page
//
// Each figure is the fastest of several repetitions, the usual defence against other
// processes' noise. Each level's message and decoded values are checked against v2's, the
// scalar reference, bit for bit, and each timed loop's result is checked after it (the decoded
// values against a decoding of the same message, the kept and the fresh push's bytes against
// each other, the serialised payload read back against the bytes); a difference fails the run.

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "bench/compression/dimension_args.hpp"
#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/taken_payload.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
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

// Set when a level's results differ from the reference's, or a timed loop's from what it
// should have computed.
bool mismatch = false;

void check(bool ok, const std::string& what) {
  if (!ok) {
    fmt::print(stderr, "bench_compression: {}\n", what);
    mismatch = true;
  }
}

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), 4 * a.size()) == 0;
}

struct timings {
  double encode, push_fresh, push_kept, push_caf, serialize, decode, wire_decode;
  long faults_fresh, faults_kept;
};

// One push as the worker makes it now: the bytes into `spare`, the message made and released,
// its payload back into `spare` (the message's only holder here, as after an acknowledgement).
void push_kept(const dsq::compressor& op, const std::vector<float>& v, dsq::rng_engine& rng,
               dsq::compressed_message& m, std::vector<std::uint8_t>& spare) {
  op.compress_into(v, rng, m);
  dsq::to_bytes(m, spare);
  dsq::gradient_push p;
  p.payload = std::move(spare);
  auto sent = caf::make_message(dsq::push_atom::value, std::move(p));
  spare = dsq::take_push_payload(sent);
}

// What CAF's middleman does with a push to a remote actor: the gradient_push serialised into
// the connection's kept write buffer.
void serialize(dsq::gradient_push& p, std::vector<char>& buffer) {
  buffer.clear();
  caf::binary_serializer sink{static_cast<caf::execution_unit*>(nullptr), buffer};
  if (auto err = sink(p))
    throw std::runtime_error("bench_compression: serialising a push failed");
}

timings measure(const std::string& spec, const dsq::compressor& op, const std::vector<float>& v,
                std::vector<float>& out) {
  dsq::rng_engine rng{7};
  dsq::compressed_message m;
  std::vector<std::uint8_t> bytes, spare;
  std::vector<char> transport;
  op.compress_into(v, rng, m);
  dsq::to_bytes(m, bytes);
  timings t{};
  t.encode = best_seconds([&] {
    op.compress_into(v, rng, m);
    keep(m.dim);
  });
  t.push_fresh = best_seconds([&] {
    op.compress_into(v, rng, m);
    dsq::gradient_push p;
    p.payload = dsq::to_bytes(m);
    auto sent = caf::make_message(dsq::push_atom::value, std::move(p));
    keep(sent.size());
  });
  t.push_kept = best_seconds([&] {
    push_kept(op, v, rng, m, spare);
    keep(spare.size());
  });
  dsq::gradient_push carried;
  t.push_caf = best_seconds([&] {
    push_kept(op, v, rng, m, spare);
    carried.payload = std::move(spare);
    serialize(carried, transport);
    spare = std::move(carried.payload);
    keep(transport.size());
  });
  carried.payload = spare;
  t.serialize = best_seconds([&] {
    serialize(carried, transport);
    keep(transport.size());
  });
  {
    // The kept push writes the bytes a fresh one writes, and the transport carries them.
    dsq::rng_engine a = rng, b = rng;
    dsq::compressed_message ma, mb;
    op.compress_into(v, a, ma);
    const auto fresh = dsq::to_bytes(ma);
    push_kept(op, v, b, mb, spare);
    check(fresh == spare, spec + ": a kept push's bytes differ from a fresh push's");
    carried.payload = spare;
    serialize(carried, transport);
    dsq::gradient_push back;
    caf::binary_deserializer source{static_cast<caf::execution_unit*>(nullptr), transport};
    check(!source(back) && back.payload == spare,
          spec + ": the serialised push does not read back as its bytes");
  }
  long before = page_faults();
  {
    op.compress_into(v, rng, m);
    dsq::gradient_push p;
    p.payload = dsq::to_bytes(m);
    auto sent = caf::make_message(dsq::push_atom::value, std::move(p));
    keep(sent.size());
  }
  t.faults_fresh = page_faults() - before;
  before = page_faults();
  push_kept(op, v, rng, m, spare);
  t.faults_kept = page_faults() - before;
  std::vector<float> expected(out.size());
  dsq::decompress(m, expected);
  t.decode = best_seconds([&] {
    dsq::decompress(m, out);
    keep(static_cast<std::size_t>(out[out.size() / 3] != 0));
  });
  check(same_floats(out, expected), spec + ": the timed decode's values differ");
  dsq::to_bytes(m, bytes);
  dsq::compressed_message received;
  t.wire_decode = best_seconds([&] {
    dsq::from_bytes_into(bytes, received, {.max_dimension = 1u << 30});
    dsq::decompress(received, out);
    keep(static_cast<std::size_t>(out[out.size() / 3] != 0));
  });
  check(same_floats(out, expected), spec + ": the timed wire+dec's values differ");
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
  // memcpy is measured before and after every row, and each row's ratios are against the better
  // of those two: other processes slow a measurement down now and then, and a table against
  // one slowed memcpy, or against the best of many, would be off for every row.
  const auto measure_memcpy = [&] {
    return best_seconds([&] {
      std::memcpy(copy.data(), v.data(), static_cast<std::size_t>(bytes));
      keep(static_cast<std::size_t>(copy[d / 2] != 0));
    });
  };
  double memcpy_before = measure_memcpy();
  struct row {
    std::string spec;
    simd_level level;
    timings t;
    double wire_bytes;
    bool same;
    double memcpy_seconds;
  };
  std::vector<row> rows;
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
      const timings t = measure(spec, *op, v, out);
      const double memcpy_after = measure_memcpy();
      rows.push_back(
          {spec, level, t, double(wire.size()), same, std::min(memcpy_before, memcpy_after)});
      memcpy_before = memcpy_after;
    }
  }
  dsq::force_simd_level(chosen);
  const auto [fastest, slowest] =
      std::minmax_element(rows.begin(), rows.end(), [](const row& a, const row& b) {
        return a.memcpy_seconds < b.memcpy_seconds;
      });
  fmt::print("\nd = {:.0e} ({} MB of floats); memcpy {:.2f} to {:.2f} GB/s (measured next to each "
             "row); figures are x that row's memcpy\n\n",
             double(d), static_cast<std::size_t>(bytes / 1e6),
             bytes / slowest->memcpy_seconds / 1e9, bytes / fastest->memcpy_seconds / 1e9);
  fmt::print(
      "| operator | level | encode | push fresh | push kept | +CAF copy | CAF share | decode "
      "| wire+dec | wire bytes/coord | faults fresh / kept | same bits as v2 |\n");
  fmt::print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const auto& [spec, level, t, wire_bytes, same, memcpy_seconds] : rows) {
    const auto ratio = [&](double seconds) { return memcpy_seconds / seconds; };
    fmt::print("| {} | {}{} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {:.0f}% | {:.2f} | {:.2f} | "
               "{:.4f} | {} / {} | {} |\n",
               spec, dsq::name(level), level == chosen ? " (chosen)" : "", ratio(t.encode),
               ratio(t.push_fresh), ratio(t.push_kept), ratio(t.push_caf),
               100.0 * t.serialize / t.push_caf, ratio(t.decode), ratio(t.wire_decode),
               wire_bytes / double(d), t.faults_fresh, t.faults_kept, same ? "yes" : "NO");
  }
}

} // namespace

int main(int argc, char** argv) {
  // Dimensions may be given on the command line; the default is the pair the goals refer to.
  if (dsq::bench::asks_for_help(argc, argv)) {
    fmt::print("usage: bench_compression [D...]\n"
               "Encode, push (fresh and kept payload, CAF's serialisation) and decode "
               "throughput of every operator at every SIMD level for vectors of D coordinates "
               "(default 1e6 and 1e7), next to memcpy.\n");
    return 0;
  }
  std::vector<std::size_t> dims;
  try {
    dims = dsq::bench::parse_dimensions(argc, argv, {1000000, 10000000});
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "bench_compression: {}\n", e.what());
    return 2;
  }
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
    fmt::print(stderr, "bench_compression: a result differs from what it should be (above, or "
                       "the tables' last column: a SIMD level's results differ from v2's)\n");
    return 1;
  }
}
