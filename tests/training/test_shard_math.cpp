// The arithmetic of a sharded run (--servers=K) that needs no engine: the key ranges
// (split_keys), the container of a worker's K slices (sliced_payload), the operator each range
// gets (range_operator), and shard k's downlink random stream.
#define BOOST_TEST_MODULE shard_math
#include <boost/test/unit_test.hpp>

#include "base/random.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/sliced_payload.hpp"

#include <dsq/spec_error.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace dsq;

namespace {

/// True if `what` throws std::invalid_argument whose message contains `part`.
template <class F>
bool throws_naming(F&& what, const std::string& part) {
  try {
    what();
  } catch (const std::invalid_argument& e) {
    return std::string{e.what()}.find(part) != std::string::npos;
  }
  return false;
}

std::vector<std::vector<std::uint8_t>> random_slices(rng_engine& rng, std::uint32_t count) {
  std::vector<std::vector<std::uint8_t>> out(count);
  for (auto& s : out) {
    s.resize(rng() % 40);
    for (auto& b : s)
      b = static_cast<std::uint8_t>(rng());
  }
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(key_ranges)

// Over many (d, K, align): K ranges, contiguous from 0 to d, every one non-empty, all but the
// last of size B = ⌈d/K⌉ rounded up to `align` (so every boundary is a multiple of align), the
// last the rest; or, when the model is too small for that, an error that names the fix.
BOOST_AUTO_TEST_CASE(ranges_cover_the_model_by_the_rule) {
  rng_engine rng{7};
  std::size_t split = 0, refused = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    const std::uint64_t d = 1 + rng() % (trial < 2500 ? 50 : 100000);
    const auto K = static_cast<std::uint32_t>(1 + rng() % 9);
    const std::uint64_t align = trial % 3 == 0 ? 1 : 1 + rng() % 17;
    BOOST_TEST_CONTEXT("d=" << d << " K=" << K << " align=" << align) {
      const std::uint64_t even = (d + K - 1) / K;
      const std::uint64_t B = (even + align - 1) / align * align;
      if (B * (K - 1) >= d) {
        BOOST_TEST(throws_naming([&] { split_keys(d, K, align); }, "use fewer shards"));
        ++refused;
        continue;
      }
      const auto ranges = split_keys(d, K, align);
      ++split;
      BOOST_TEST_REQUIRE(ranges.size() == K);
      BOOST_TEST(ranges.front().begin == 0u);
      BOOST_TEST(ranges.back().end == d);
      for (std::uint32_t k = 0; k < K; ++k) {
        BOOST_TEST(ranges[k].size() > 0u);
        BOOST_TEST(ranges[k].begin % align == 0u);
        if (k + 1 < K) {
          BOOST_TEST(ranges[k].size() == B);
          BOOST_TEST(ranges[k].end == ranges[k + 1].begin);
        }
      }
    }
  }
  BOOST_TEST(split > 1000u); // both outcomes were exercised
  BOOST_TEST(refused > 10u);
}

BOOST_AUTO_TEST_CASE(one_shard_owns_everything_and_small_models_are_refused_with_the_fix) {
  BOOST_TEST((split_keys(10, 1) == std::vector<key_range>{{0, 10}}));
  BOOST_TEST((split_keys(10, 1, 64) == std::vector<key_range>{{0, 10}}));
  BOOST_TEST((split_keys(10, 3) == std::vector<key_range>{{0, 4}, {4, 8}, {8, 10}}));
  BOOST_TEST((split_keys(36, 2, 5) == std::vector<key_range>{{0, 20}, {20, 36}}));
  BOOST_TEST(throws_naming([] { split_keys(10, 0); }, "--servers must be at least 1"));
  BOOST_TEST(throws_naming([] { split_keys(3, 4); }, "use fewer shards or a larger model"));
  // Aligned to blocks of 8, 3 shards need more than 16 coordinates.
  BOOST_TEST(throws_naming([] { split_keys(16, 3, 8); }, "whole blocks of 8"));
  BOOST_TEST(split_keys(17, 3, 8).back().size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_alignment_is_the_block_of_sign) {
  BOOST_TEST(range_alignment("sign:block=4096") == 4096u);
  BOOST_TEST(range_alignment("sign") == 1u);
  BOOST_TEST(range_alignment("topk:k=10") == 1u);
  BOOST_TEST(range_alignment("qsgd:s=4") == 1u);
  BOOST_CHECK_THROW(range_alignment("nosuchop"), spec_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sliced_payload)

BOOST_AUTO_TEST_CASE(slices_round_trip) {
  rng_engine rng{3};
  for (std::uint32_t K = 1; K <= 6; ++K) {
    for (int trial = 0; trial < 50; ++trial) {
      const auto slices = random_slices(rng, K);
      const auto bytes = join_slices(slices);
      const auto back = split_slices(bytes, K);
      BOOST_TEST_REQUIRE(back.size() == K);
      for (std::uint32_t k = 0; k < K; ++k)
        BOOST_TEST((std::vector<std::uint8_t>(back[k].begin(), back[k].end()) == slices[k]));
    }
  }
  // Empty slices are slices too.
  const std::vector<std::vector<std::uint8_t>> empty(3);
  BOOST_TEST(split_slices(join_slices(empty), 3).size() == 3u);
}

BOOST_AUTO_TEST_CASE(truncated_trailing_and_miscounted_containers_are_refused) {
  const std::vector<std::vector<std::uint8_t>> slices{{1, 2, 3}, {4}, {5, 6}};
  const auto bytes = join_slices(slices);
  BOOST_TEST(bytes.size() == 4u + 3 * 8 + 6);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::span<const std::uint8_t> head{bytes.data(), cut};
    BOOST_TEST(throws_naming([&] { split_slices(head, 3); }, "sliced payload"), "cut " << cut);
  }
  auto longer = bytes;
  longer.push_back(0);
  BOOST_TEST(throws_naming([&] { split_slices(longer, 3); }, "bytes after the last slice"));
  BOOST_TEST(throws_naming([&] { split_slices(bytes, 2); }, "3 slices where the run has 2"));
  BOOST_TEST(throws_naming([&] { split_slices(bytes, 4); }, "3 slices where the run has 4"));
  // A length that would run past the end, however large (no overflow of the running offset).
  auto huge = bytes;
  for (int i = 0; i < 8; ++i)
    huge[4 + 8 + i] = 0xff;
  BOOST_TEST(throws_naming([&] { split_slices(huge, 3); }, "runs past the end"));
}

// Thousands of random byte strings, and of damaged containers: split_slices either returns
// slices that lie inside the input and add up to it, or throws std::invalid_argument; nothing
// else (a crash under the sanitizers, another exception) is acceptable.
BOOST_AUTO_TEST_CASE(random_bytes_give_slices_or_invalid_argument) {
  rng_engine rng{11};
  std::size_t accepted = 0, refused = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const auto K = static_cast<std::uint32_t>(1 + rng() % 4);
    std::vector<std::uint8_t> bytes;
    if (trial % 2 == 0) {
      bytes.resize(rng() % 64);
      for (auto& b : bytes)
        b = static_cast<std::uint8_t>(rng());
      if (bytes.size() >= 4 && trial % 4 == 0) // a plausible count, so the lengths get read
        bytes[0] = static_cast<std::uint8_t>(K), bytes[1] = bytes[2] = bytes[3] = 0;
    } else {
      bytes = join_slices(random_slices(rng, K));
      const auto flips = 1 + rng() % 3;
      for (std::uint64_t f = 0; f < flips && !bytes.empty(); ++f)
        bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    }
    try {
      const auto slices = split_slices(bytes, K);
      BOOST_TEST_REQUIRE(slices.size() == K);
      std::size_t total = 4 + 8 * std::size_t{K};
      for (const auto& s : slices) {
        BOOST_TEST((s.empty() || (s.data() >= bytes.data() &&
                                  s.data() + s.size() <= bytes.data() + bytes.size())));
        total += s.size();
      }
      BOOST_TEST(total == bytes.size());
      ++accepted;
    } catch (const std::invalid_argument&) {
      ++refused;
    }
  }
  BOOST_TEST(accepted > 100u);
  BOOST_TEST(refused > 1000u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(range_operators)

// A count sparsifier keeps k_r = ⌈k·|r|/d⌉ of range r (at most |r|); everything else is the
// run's own spec.
BOOST_AUTO_TEST_CASE(each_range_gets_its_share_of_k) {
  const auto ranges = split_keys(100, 3);            // 34, 34, 32
  BOOST_TEST(range_count(10, 100, ranges[0]) == 4u); // ⌈3.4⌉
  BOOST_TEST(range_count(10, 100, ranges[2]) == 4u); // ⌈3.2⌉
  BOOST_TEST(range_count(100, 100, ranges[2]) == 32u);
  BOOST_TEST(range_count(1000, 100, ranges[2]) == 32u); // never more than the range
  BOOST_TEST(range_count(1, 100, ranges[1]) == 1u);     // every range keeps one at least
  BOOST_TEST(range_count(4'000'000'000u, 4'000'000'000u, {0, 3'000'000'000u}) == 3'000'000'000u);
  BOOST_TEST(range_operator_spec("topk:k=10", 100, ranges[0]) == "topk:k=4");
  BOOST_TEST(range_operator_spec("randomk:k=10,unbiased=1,shared_seed=1", 100, ranges[1]) ==
             make_compressor("randomk:k=4,unbiased=1,shared_seed=1")->spec());
  BOOST_TEST(range_operator_spec("topk:k=0.1", 100, ranges[0]) == "topk:k=0.1");
  for (const char* same : {"identity", "fp16", "sign", "sign:block=8", "qsgd:s=4"})
    BOOST_TEST(range_operator_spec(same, 100, ranges[1]) == same);
  // The whole model as one range: the run's own k.
  BOOST_TEST(range_operator_spec("topk:k=10", 100, {0, 100}) == "topk:k=10");
}

// Each range's pass compresses its slice alone, one random stream drawn in range order.
BOOST_AUTO_TEST_CASE(compress_slices_writes_one_message_per_range) {
  const auto ranges = split_keys(50, 3);
  auto passes = range_passes("topk:k=6", true, 50, ranges);
  std::vector<float> g(50);
  for (std::size_t j = 0; j < g.size(); ++j)
    g[j] = static_cast<float>((j * 37) % 11) - 5.0f;
  rng_engine rng{1};
  const auto bytes = compress_slices(passes, ranges, g, rng);
  const auto slices = split_slices(bytes, 3);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto m = from_bytes(slices[k]);
    BOOST_TEST(m.dimension() == ranges[k].size());
    BOOST_TEST(m.k == range_count(6, 50, ranges[k]));
    BOOST_TEST(passes[k].residual().size() == ranges[k].size());
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(downlink_streams)

// Shard 0 (and an unsharded server) keeps the recorded stream; other shards get streams of
// their own, distinct from each other and from the workers'.
BOOST_AUTO_TEST_CASE(shard_zero_keeps_the_recorded_stream) {
  BOOST_TEST(downlink_seed(1, 0) == mix_seed(1, 999));
  BOOST_TEST(downlink_seed(1, 0) == 0xe71894b1b5034fb7u); // test_random's recorded value
  std::vector<std::uint64_t> seen;
  for (std::uint32_t k = 0; k < 64; ++k)
    seen.push_back(downlink_seed(42, k));
  for (std::uint32_t id = 0; id < 64; ++id)
    seen.push_back(mix_seed(42, 1000 + id)); // the workers' streams
  std::sort(seen.begin(), seen.end());
  BOOST_TEST((std::adjacent_find(seen.begin(), seen.end()) == seen.end()));
  BOOST_TEST(downlink_seed(42, 1) != downlink_seed(43, 1));
}

BOOST_AUTO_TEST_SUITE_END()
