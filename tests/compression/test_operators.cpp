// What each operator promises about C[v], checked through the full path
// compress -> to_bytes -> from_bytes -> decompress.

#include "compression/half.hpp"
#include "compression/make_compressor.hpp"
#include "compression/payload_layout.hpp"
#include "compression/sample_indices.hpp"
#include "compression/wire.hpp"
#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace dsq;
using namespace dsq::test;
namespace bdata = boost::unit_test::data;

namespace {

// Indices of the k largest magnitudes, lower index first among equals, by full sort: the slow
// and obvious reference for top-k.
std::vector<std::uint32_t> reference_topk(std::span<const float> v, std::size_t k) {
  std::vector<std::uint32_t> order(v.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return std::fabs(v[a]) > std::fabs(v[b]);
  });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

std::vector<std::uint32_t> nonzero_indices(std::span<const float> c) {
  std::vector<std::uint32_t> indices;
  for (std::uint32_t j = 0; j < c.size(); ++j)
    if (c[j] != 0.0f)
      indices.push_back(j);
  return indices;
}

// The operator's promise about C[v] for the message m that `spec` produced from v.
void check_promise(const std::string& spec, std::span<const float> v, const compressed_message& m,
                   std::span<const float> c) {
  const std::size_t d = v.size();
  const std::string name = spec.substr(0, spec.find(':'));
  if (name == "identity") {
    BOOST_TEST(std::equal(c.begin(), c.end(), v.begin()));
  } else if (name == "fp16") {
    for (std::size_t j = 0; j < d; ++j)
      BOOST_TEST_REQUIRE(c[j] == half_to_float(float_to_half(v[j])));
  } else if (name == "sign") {
    const std::size_t block = m.block == 0 ? d : m.block;
    for (std::size_t start = 0; start < d; start += block) {
      const std::size_t end = std::min(d, start + block);
      const double mean_magnitude = l1_norm(v.subspan(start, end - start)) / double(end - start);
      for (std::size_t j = start; j < end; ++j) {
        BOOST_TEST_REQUIRE(std::fabs(c[j]) == m.values[start / block]);
        BOOST_TEST_REQUIRE((c[j] < 0) == (v[j] < 0));
      }
      BOOST_TEST_REQUIRE(m.values[start / block] == mean_magnitude,
                         boost::test_tools::tolerance(1e-6));
    }
  } else if (name == "topk") {
    BOOST_TEST(m.indices == reference_topk(v, m.k), boost::test_tools::per_element());
    for (std::size_t i = 0; i < m.k; ++i)
      BOOST_TEST_REQUIRE(c[m.indices[i]] == v[m.indices[i]]);
    BOOST_TEST(nonzero_indices(c).size() <= m.k);
  } else if (name == "randomk") {
    const bool unbiased = spec.find("unbiased=1") != std::string::npos;
    const float factor = unbiased ? static_cast<float>(double(d) / double(m.k)) : 1.0f;
    // v has no zeros, so the kept coordinates are exactly the nonzero ones.
    const auto kept = nonzero_indices(c);
    BOOST_TEST(kept.size() == m.k);
    for (const auto j : kept)
      BOOST_TEST_REQUIRE(c[j] == v[j] * factor);
  } else if (name == "qsgd") {
    const double norm = std::sqrt(squared_norm(v));
    for (std::size_t j = 0; j < d; ++j) {
      const double exact = m.levels * std::fabs(v[j]) / norm;
      const double level = std::fabs(c[j]) * m.levels / m.values[0];
      BOOST_TEST_REQUIRE(std::fabs(level - std::round(level)) < 1e-3);
      BOOST_TEST_REQUIRE(std::round(level) >= std::floor(exact) - 1e-3);
      BOOST_TEST_REQUIRE(std::round(level) <= std::ceil(exact) + 1e-3);
      BOOST_TEST_REQUIRE((c[j] == 0 || (c[j] < 0) == (v[j] < 0)));
    }
  }
}

const std::vector<std::size_t> dimensions = {1, 7, 4097, 1000000};

} // namespace

BOOST_AUTO_TEST_SUITE(operators)

BOOST_DATA_TEST_CASE(round_trip_through_bytes_decodes_to_the_operators_promise,
                     bdata::make(all_specs()) * bdata::make(dimensions), spec, d) {
  const auto op = make_compressor(spec);
  const auto v = normal_vector(d, 1000 + d);
  rng_engine rng{d};
  const compressed_message m = op->compress(v, rng);
  BOOST_TEST(m.dimension() == d);
  const auto direct = decoded(m);
  const auto bytes = to_bytes(m);
  const compressed_message received = from_bytes(bytes);
  BOOST_TEST((received == m));
  BOOST_TEST(decoded(received) == direct, boost::test_tools::per_element());
  check_promise(spec, v, m, direct);
}

BOOST_DATA_TEST_CASE(add_scaled_adds_the_scaled_decompression,
                     bdata::make(all_specs()) * bdata::make({7, 4097}), spec, d) {
  const auto op = make_compressor(spec);
  const auto v = normal_vector(d, 5);
  rng_engine rng{5};
  const auto m = op->compress(v, rng);
  const auto c = decoded(m);
  auto out = normal_vector(d, 6);
  std::vector<float> expected(d);
  for (std::size_t j = 0; j < std::size_t(d); ++j)
    expected[j] = out[j] + -0.75f * c[j];
  add_scaled(m, -0.75f, out);
  BOOST_TEST(out == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sparse_add_scaled_touches_only_the_kept_coordinates) {
  const auto v = normal_vector(1000, 8);
  rng_engine rng{8};
  for (const char* spec : {"topk:k=10", "randomk:k=10", "randomk:k=10,shared_seed=1"}) {
    const auto m = make_compressor(spec)->compress(v, rng);
    // -0 + 0 = +0, so a coordinate that was merely added a zero would lose its sign bit.
    std::vector<float> out(1000, -0.0f);
    add_scaled(m, 2.0f, out);
    const auto c = decoded(m);
    std::size_t untouched = 0;
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (c[j] != 0.0f) {
        BOOST_TEST_REQUIRE(out[j] == 2.0f * c[j]);
      } else {
        BOOST_TEST_REQUIRE(std::signbit(out[j]), spec << " touched coordinate " << j);
        ++untouched;
      }
    }
    BOOST_TEST(untouched == 990u);
  }
}

BOOST_AUTO_TEST_CASE(decompress_rejects_an_output_of_the_wrong_size) {
  const auto v = normal_vector(10, 1);
  rng_engine rng{1};
  for (const auto& spec : all_specs()) {
    const auto m = make_compressor(spec)->compress(v, rng);
    std::vector<float> small(9), large(11);
    BOOST_CHECK_THROW(decompress(m, small), std::invalid_argument);
    BOOST_CHECK_THROW(add_scaled(m, 1.0f, large), std::invalid_argument);
  }
}

BOOST_AUTO_TEST_CASE(decompress_rejects_a_hand_built_inconsistent_message) {
  compressed_message m;
  m.op = operator_id::topk;
  m.dim = 4;
  m.k = 1;
  m.indices = {4};
  m.values = {1.0f};
  std::vector<float> out(4);
  BOOST_CHECK_THROW(decompress(m, out), std::invalid_argument); // index out of range
  m.indices = {0, 1};
  BOOST_CHECK_THROW(decompress(m, out), std::invalid_argument); // k says 1, two indices
}

BOOST_AUTO_TEST_CASE(empty_vectors_compress_to_empty_messages) {
  rng_engine rng{0};
  for (const auto& spec : all_specs()) {
    const auto m = make_compressor(spec)->compress({}, rng);
    BOOST_TEST(m.dimension() == 0u);
    BOOST_TEST(decoded(from_bytes(to_bytes(m))).empty());
  }
}

// --- sign ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sign_of_zero_and_negative_zero_is_plus) {
  const std::vector<float> v = {0.0f, -0.0f, 2.0f, -2.0f};
  rng_engine rng{0};
  const auto c = decoded(make_compressor("sign")->compress(v, rng));
  BOOST_TEST(c[0] > 0);
  BOOST_TEST(c[1] > 0);
  BOOST_TEST(c[2] > 0);
  BOOST_TEST(c[3] < 0);
  // The same through the vectorised path, which handles 64 coordinates at a time.
  std::vector<float> zeros(128, 0.0f);
  zeros[70] = -0.0f;
  zeros[5] = -1.0f;
  const auto z = decoded(make_compressor("sign")->compress(zeros, rng));
  BOOST_TEST(z[70] > 0);
  BOOST_TEST(z[0] > 0);
  BOOST_TEST(z[5] < 0);
}

BOOST_AUTO_TEST_CASE(sign_scale_is_the_mean_magnitude_overall_and_per_block) {
  const auto v = normal_vector(1037, 4);
  rng_engine rng{0};
  const auto whole = make_compressor("sign")->compress(v, rng);
  BOOST_TEST(whole.values.size() == 1u);
  BOOST_TEST(whole.values[0] == l1_norm(v) / 1037, boost::test_tools::tolerance(1e-6));

  // Blocks of 100 straddle the encoder's 64-coordinate chunks; the last block has 37.
  const auto blocked = make_compressor("sign:block=100")->compress(v, rng);
  BOOST_TEST(blocked.values.size() == 11u);
  for (std::size_t b = 0; b < 11; ++b) {
    const std::size_t length = std::min<std::size_t>(100, 1037 - 100 * b);
    const double mean = l1_norm(std::span{v}.subspan(100 * b, length)) / double(length);
    BOOST_TEST(blocked.values[b] == mean, boost::test_tools::tolerance(1e-6));
  }
}

BOOST_DATA_TEST_CASE(sign_error_is_the_norm_identity_and_below_norm_squared,
                     bdata::make({"sign", "sign:block=64", "sign:block=1000"}), spec) {
  // ‖C[v] − v‖² = Σ_b (‖v_b‖₂² − ‖v_b‖₁²/|b|) ≤ ‖v‖₂² for the mean-magnitude scale.
  const auto v = normal_vector(10000, 9);
  rng_engine rng{0};
  const auto m = make_compressor(spec)->compress(v, rng);
  const auto c = decoded(m);
  const std::size_t block = m.block == 0 ? v.size() : m.block;
  double identity = 0;
  for (std::size_t start = 0; start < v.size(); start += block) {
    const auto part = std::span{v}.subspan(start, std::min(block, v.size() - start));
    identity += squared_norm(part) - l1_norm(part) * l1_norm(part) / double(part.size());
  }
  const double error = squared_distance(c, v);
  BOOST_TEST(error == identity, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(error <= squared_norm(v));
}

// --- top-k -----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(topk_keeps_the_largest_magnitudes_and_breaks_ties_by_lower_index) {
  const std::vector<float> v = {1, -1, 1, 2, -2, 1, 0, -3};
  rng_engine rng{0};
  const auto m = make_compressor("topk:k=4")->compress(v, rng);
  BOOST_TEST(m.indices == (std::vector<std::uint32_t>{0, 3, 4, 7}),
             boost::test_tools::per_element());
  BOOST_TEST(m.values == (std::vector<float>{1, 2, -2, -3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(topk_matches_a_full_sort_on_vectors_full_of_ties) {
  rng_engine rng{21};
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t d = 1 + uniform_below(rng, 300);
    std::vector<float> v(d);
    for (auto& x : v) // few distinct magnitudes, both signs, zeros
      x = static_cast<float>(int(uniform_below(rng, 7)) - 3);
    const std::uint32_t k = 1 + uniform_below(rng, static_cast<std::uint32_t>(d));
    const auto m = make_compressor("topk:k=" + std::to_string(k))->compress(v, rng);
    BOOST_TEST_REQUIRE(m.indices == reference_topk(v, k));
  }
}

BOOST_AUTO_TEST_CASE(topk_matches_a_full_sort_on_large_vectors_whichever_path_it_takes) {
  // Large vectors go through a sampled prefilter with an exact fallback; these inputs cover
  // the prefilter succeeding, drowning in ties, and being fooled by its fixed sample positions.
  constexpr std::size_t d = 100000;
  std::vector<std::vector<float>> inputs;
  inputs.push_back(normal_vector(d, 77));
  rng_engine rng{77};
  std::vector<float> ties(d);
  for (auto& x : ties)
    x = static_cast<float>(int(uniform_below(rng, 5)) - 2);
  inputs.push_back(ties);
  std::vector<float> fooled(d, 2.0f); // small exactly where a strided sample looks
  for (std::size_t j = 0; j < d; j += d / 8192)
    fooled[j] = 1.0f;
  inputs.push_back(fooled);
  std::vector<float> sparse(d, 0.0f);
  for (std::size_t j = 0; j < d; j += 997)
    sparse[j] = float(j);
  inputs.push_back(sparse);
  std::vector<float> ascending(d);
  std::iota(ascending.begin(), ascending.end(), 0.0f);
  inputs.push_back(ascending);
  // More ties at the k-th magnitude than k, among few enough candidates for the prefilter:
  // the fast path must keep exactly k (it once kept every tie after the last one it needed).
  auto tied_top = normal_vector(d, 78);
  for (std::size_t j = 0; j < d; j += 33)
    tied_top[j] = 50.0f;
  inputs.push_back(tied_top);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    for (const char* spec : {"topk:k=0.001", "topk:k=0.01", "topk:k=0.05", "topk:k=0.2"}) {
      const auto m = make_compressor(spec)->compress(inputs[i], rng);
      BOOST_TEST_REQUIRE(m.indices == reference_topk(inputs[i], m.k), "input " << i << " " << spec);
    }
  }
}

BOOST_AUTO_TEST_CASE(topk_handles_constant_and_zero_vectors) {
  rng_engine rng{0};
  const std::vector<float> constant(1000, 0.5f), zeros(1000, 0.0f);
  for (const auto* v : {&constant, &zeros}) {
    const auto m = make_compressor("topk:k=10")->compress(*v, rng);
    BOOST_TEST(m.indices == reference_topk(*v, 10), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(topk_error_is_at_most_one_minus_k_over_d) {
  // ‖C[v] − v‖² ≤ (1 − k/d)‖v‖²: the dropped d − k squares are the smallest ones.
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    auto v = normal_vector(5000, seed);
    rng_engine rng{seed};
    const auto c = decoded(make_compressor("topk:k=0.05")->compress(v, rng));
    BOOST_TEST(squared_distance(c, v) <= (1 - 0.05) * squared_norm(v));
  }
}

BOOST_AUTO_TEST_CASE(topk_fraction_resolves_to_rounded_count_of_at_least_one) {
  rng_engine rng{0};
  BOOST_TEST(make_compressor("topk:k=0.01")->compress(normal_vector(1000000, 1), rng).k == 10000u);
  BOOST_TEST(make_compressor("topk:k=0.01")->compress(normal_vector(7, 1), rng).k == 1u);
  BOOST_TEST(make_compressor("topk:k=1000")->compress(normal_vector(7, 1), rng).k == 7u);
}

// --- random-k --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(
    randomk_shared_seed_message_carries_no_indices_and_decodes_them_from_the_seed) {
  const auto v = normal_vector(1000, 2);
  rng_engine rng{3};
  const auto m = make_compressor("randomk:k=50,shared_seed=1")->compress(v, rng);
  BOOST_TEST(m.indices.empty());
  BOOST_TEST(m.values.size() == 50u);
  rng_engine from_seed{m.seed};
  const auto expected = sample_indices(from_seed, 50, 1000);
  const auto c = decoded(m);
  BOOST_TEST(nonzero_indices(c) == expected, boost::test_tools::per_element());
  for (const auto j : expected)
    BOOST_TEST_REQUIRE(c[j] == v[j]);
}

BOOST_AUTO_TEST_CASE(randomk_error_is_never_above_the_norm_when_unscaled) {
  const auto v = normal_vector(1000, 2);
  rng_engine rng{4};
  for (int t = 0; t < 20; ++t) {
    const auto c = decoded(make_compressor("randomk:k=0.1")->compress(v, rng));
    BOOST_TEST_REQUIRE(squared_distance(c, v) <= squared_norm(v));
  }
}

// --- qsgd ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(qsgd_moves_each_coordinate_by_at_most_one_level) {
  const auto v = normal_vector(4097, 3);
  rng_engine rng{0};
  const auto m = make_compressor("qsgd:s=4")->compress(v, rng);
  const auto c = decoded(m);
  const double level = std::sqrt(squared_norm(v)) / 4;
  for (std::size_t j = 0; j < v.size(); ++j)
    BOOST_TEST_REQUIRE(std::fabs(c[j] - v[j]) <= level * (1 + 1e-5));
}

BOOST_AUTO_TEST_CASE(qsgd_of_the_zero_vector_is_zero) {
  const std::vector<float> zeros(100, 0.0f);
  rng_engine rng{0};
  const auto c = decoded(make_compressor("qsgd:s=16")->compress(zeros, rng));
  BOOST_TEST(c == zeros, boost::test_tools::per_element());
}

// --- fp16 ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fp16_relative_error_is_at_most_half_an_ulp) {
  const auto v = normal_vector(10000, 12);
  rng_engine rng{0};
  const auto c = decoded(make_compressor("fp16")->compress(v, rng));
  for (std::size_t j = 0; j < v.size(); ++j) {
    if (std::fabs(v[j]) >= 0x1p-14f) // normal halves: 11 significant bits
      BOOST_TEST_REQUIRE(std::fabs(c[j] - v[j]) <= std::fabs(v[j]) * 0x1p-11f);
    else // subnormal halves: absolute spacing 2^-24
      BOOST_TEST_REQUIRE(std::fabs(c[j] - v[j]) <= 0x1p-25f);
  }
}

BOOST_AUTO_TEST_SUITE_END()
