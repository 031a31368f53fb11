// Every kernel at every SIMD level this machine supports against the v2 table, the scalar
// reference, bit for bit: the wire format and the decoded values must not depend on the level.

#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "compression/compressor.hpp"
#include "compression/detail/kernels.hpp"
#include "compression/detail/kernels_common.hpp"
#include "compression/detail/lane_jump.hpp"
#include "compression/error_feedback.hpp"
#include "compression/make_compressor.hpp"
#include "compression/payload_layout.hpp"
#include "compression/wire.hpp"
#include "simd_levels.hpp"
#include "test_support.hpp"
#include "tests/support/same_bits.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;
using namespace dsq::test;
using detail::kernel_table;
using detail::kernels_at;

namespace {

const kernel_table& reference = detail::kernels_v2;

// The levels above the reference that this machine can run (none on a v2 machine).
std::vector<simd_level> levels_to_check() {
  std::vector<simd_level> levels;
  for (const simd_level level : all_simd_levels)
    if (level != simd_level::v2 && machine_simd_levels().contains(level))
      levels.push_back(level);
  return levels;
}

float from_bits(std::uint32_t bits) {
  return std::bit_cast<float>(bits);
}

// Floats that reach every branch of the conversion: every exponent and sign with mantissas at
// and around each rounding boundary of a half (normal and subnormal), inf, NaNs with and
// without payloads, and random bit patterns.
std::vector<float> awkward_floats() {
  std::vector<float> v;
  for (std::uint32_t high = 0; high < 0x10000; ++high)
    for (const std::uint32_t low : {0x0000u, 0x0001u, 0x0fffu, 0x1000u, 0x1001u, 0x1fffu, 0x2000u,
                                    0x3000u, 0x7fffu, 0x8000u, 0xffffu})
      v.push_back(from_bits((high << 16) | low));
  rng_engine rng{28};
  for (int i = 0; i < 200000; ++i)
    v.push_back(from_bits(static_cast<std::uint32_t>(rng())));
  v.push_back(from_bits(0x477ff000u)); // 65520: the first value past 65504
  v.push_back(from_bits(0x477fefffu));
  return v;
}

// A vector for QSGD with everything its encoder treats specially mixed into normal values.
std::vector<float> qsgd_input(std::size_t d, std::uint64_t seed) {
  auto v = normal_vector(d, seed);
  const float specials[] = {0.0f,
                            -0.0f,
                            1e-30f,
                            -1e-30f,
                            std::numeric_limits<float>::denorm_min(),
                            1e4f,
                            -1e4f,
                            std::numeric_limits<float>::quiet_NaN()};
  for (std::size_t j = 0; j < d; j += 7)
    v[j] = specials[(j / 7) % std::size(specials)];
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(kernels)

BOOST_AUTO_TEST_CASE(fp16_encode_gives_the_reference_halves_at_every_level) {
  const auto in = awkward_floats();
  std::vector<std::uint16_t> expected(in.size());
  reference.fp16_encode(in.data(), expected.data(), in.size());
  for (const simd_level level : levels_to_check()) {
    // Lengths that leave every tail a vector loop can leave.
    for (const std::size_t n : {in.size(), in.size() - 1, in.size() - 9, std::size_t{15}}) {
      std::vector<std::uint16_t> got(n);
      kernels_at(level).fp16_encode(in.data(), got.data(), n);
      BOOST_TEST(same_bits(got, std::vector<std::uint16_t>(expected.begin(), expected.begin() + n)),
                 name(level) << " n = " << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(fp16_decode_gives_the_reference_floats_for_every_half_at_every_level) {
  std::vector<std::uint16_t> halves(0x10000 + 5);
  for (std::size_t h = 0; h < halves.size(); ++h)
    halves[h] = static_cast<std::uint16_t>(h * 40503u); // all 2^16 halves, in a scrambled order
  const auto start = normal_vector(halves.size(), 3);
  for (const detail::write_mode mode :
       {detail::write_mode{false, 1.0f}, {true, -0.75f}, {true, 0.3f}}) {
    auto expected = start;
    reference.fp16_decode(halves.data(), expected.data(), halves.size(), mode);
    for (const simd_level level : levels_to_check()) {
      auto got = start;
      kernels_at(level).fp16_decode(halves.data(), got.data(), halves.size(), mode);
      BOOST_TEST(same_bits(got, expected), name(level) << " accumulate " << mode.accumulate);
    }
  }
}

BOOST_AUTO_TEST_CASE(sum_of_squares_adds_in_the_reference_order_at_every_level) {
  for (const std::size_t n : {0, 1, 3, 4, 5, 8, 17, 1000, 100003}) {
    const auto v = normal_vector(n, n + 1);
    const double expected = reference.sum_of_squares(v.data(), n);
    for (const simd_level level : levels_to_check())
      BOOST_TEST(std::bit_cast<std::uint64_t>(kernels_at(level).sum_of_squares(v.data(), n)) ==
                     std::bit_cast<std::uint64_t>(expected),
                 name(level) << " n = " << n);
  }
}

// all_finite at every level, the reference included, against what the vector holds: the
// largest finite floats, subnormals and -0 are finite; one NaN (of either sign) or infinity
// anywhere, the first, a middle or the last coordinate (in the SIMD body or its tail), is not.
BOOST_AUTO_TEST_CASE(all_finite_finds_any_nan_or_infinity_at_every_level) {
  using lim = std::numeric_limits<float>;
  std::vector<simd_level> levels = levels_to_check();
  levels.push_back(simd_level::v2);
  for (const std::size_t n : {1, 15, 16, 17, 33, 1000, 100003}) {
    auto v = normal_vector(n, n + 7);
    v[n / 3] = lim::max();
    v[n / 4] = -lim::denorm_min();
    v[n / 5] = -0.0f;
    for (const simd_level level : levels) {
      BOOST_TEST(kernels_at(level).all_finite(v.data(), n), name(level) << " n = " << n);
      for (const std::size_t at : {std::size_t{0}, n / 2, n - 1})
        for (const float bad : {lim::quiet_NaN(), -lim::quiet_NaN(), lim::infinity(),
                                -lim::infinity(), lim::signaling_NaN()}) {
          const float kept = v[at];
          v[at] = bad;
          BOOST_TEST(!kernels_at(level).all_finite(v.data(), n),
                     name(level) << " n = " << n << ", " << bad << " at " << at);
          v[at] = kept;
        }
    }
  }
  for (const simd_level level : levels)
    BOOST_TEST(kernels_at(level).all_finite(nullptr, 0), name(level) << " n = 0");
}

// The levels add each square with one fused multiply-add, the reference with a multiply and an
// add: the same double, since a float's square is exact in double. Checked where rounding
// matters most (squares of every exponent, subnormals, sums that overflow to inf) and for NaNs
// of different payloads and signs in one lane: the sum is then the default quiet NaN, whichever
// NaN an addition kept.
BOOST_AUTO_TEST_CASE(sum_of_squares_with_fused_squares_keeps_the_reference_bits) {
  auto v = awkward_floats();
  std::vector<float> finite;
  for (const float x : v)
    if (std::isfinite(x))
      finite.push_back(x);
  std::vector<float> nans(1000, 1.5f);
  for (std::size_t j = 3; j < nans.size(); j += 32 * 5)
    nans[j] = from_bits(0x7fc00000u | static_cast<std::uint32_t>(j)); // lane 3, payload j
  nans[35] = from_bits(0xffc00001u);                                  // a negative one in lane 3
  nans[36] = std::numeric_limits<float>::infinity();
  BOOST_TEST(std::bit_cast<std::uint64_t>(reference.sum_of_squares(nans.data(), nans.size())) ==
             0x7ff8000000000000u);
  for (const auto* input : {&v, &finite, &nans}) {
    const double expected = reference.sum_of_squares(input->data(), input->size());
    for (const simd_level level : levels_to_check())
      BOOST_TEST(std::bit_cast<std::uint64_t>(kernels_at(level).sum_of_squares(
                     input->data(), input->size())) == std::bit_cast<std::uint64_t>(expected),
                 name(level) << " n = " << input->size());
  }
}

// Error feedback's v = acc + g with QSGD's norm in the same pass: at every level (the reference
// too) acc becomes the plain loop's sums, and the returned sum is the reference sum_of_squares
// of them, bit for bit; around the 32-lane groups, with awkward floats and a NaN.
BOOST_AUTO_TEST_CASE(add_sum_of_squares_forms_v_and_its_reference_sum_at_every_level) {
  auto levels = levels_to_check();
  levels.insert(levels.begin(), simd_level::v2);
  for (const std::size_t n : {0, 1, 3, 31, 32, 33, 64, 1000, 100003}) {
    auto acc = qsgd_input(n, n + 1);
    const auto g = normal_vector(n, n + 7);
    for (const std::size_t with_nan : {0, 1}) {
      if (with_nan == 0) // no NaN: a NaN's payload after an addition is not part of the promise
        for (auto& x : acc)
          if (std::isnan(x))
            x = 2.5f;
      std::vector<float> v(n);
      for (std::size_t j = 0; j < n; ++j)
        v[j] = acc[j] + g[j];
      const double expected = reference.sum_of_squares(v.data(), n);
      for (const simd_level level : levels) {
        auto got = acc;
        const double sum = kernels_at(level).add_sum_of_squares(got.data(), g.data(), n);
        BOOST_TEST(std::bit_cast<std::uint64_t>(sum) == std::bit_cast<std::uint64_t>(expected),
                   name(level) << " n = " << n << " NaN " << with_nan);
        if (with_nan == 0)
          BOOST_TEST(same_bits(got, v), name(level) << " n = " << n);
      }
      if (n > 0)
        acc[0] = std::numeric_limits<float>::quiet_NaN();
    }
  }
}

// Error feedback hands QSGD the norm of the pass that forms v: the message's bytes, the random
// stream after it and the new residual are those of v formed first and QSGD's own norm pass,
// at every level.
BOOST_AUTO_TEST_CASE(error_feedback_gives_qsgd_its_own_norm_at_every_level) {
  active_level_guard guard;
  auto levels = levels_to_check();
  levels.insert(levels.begin(), simd_level::v2);
  for (const std::string spec : {"qsgd:s=1", "qsgd:s=16", "qsgd:s=255"}) {
    const auto op = make_compressor(spec);
    for (const std::size_t d : {1, 33, 10007}) {
      for (const simd_level level : levels) {
        force_simd_level(level);
        error_feedback feedback{d};
        std::vector<float> delta = normal_vector(d, d + 3);
        std::copy(delta.begin(), delta.end(), feedback.residual().begin());
        rng_engine rng{6}, expected_rng{6};
        for (std::uint64_t step = 0; step < 3; ++step) {
          const auto g = normal_vector(d, 50 + step);
          compressed_message m, expected;
          feedback.compress_into(*op, g, rng, m);
          for (std::size_t j = 0; j < d; ++j)
            delta[j] += g[j];
          op->compress_into(delta, expected_rng, expected);
          add_scaled(expected, -1.0f, delta);
          const std::vector<float> residual(feedback.residual().begin(), feedback.residual().end());
          BOOST_TEST((to_bytes(m) == to_bytes(expected)),
                     spec << " d = " << d << " at " << name(level) << " step " << step);
          BOOST_TEST(same_bits(residual, delta), spec << " d = " << d << " at " << name(level));
          BOOST_TEST(rng() == expected_rng());
        }
      }
    }
  }
}

// Encodes v with s levels by the reference and by every level above it, and checks the streams
// (every word written: the kernels' words start as all ones) and the engines after it.
// levels_per_unit is s over the norm of v's coordinates other than its NaNs (so that the rest
// quantise normally) unless `scale` is given: then s times it, the levels of |x| * scale * s
// (what a wrong norm would give: levels far above s, overflows, inf * 0).
void check_qsgd_encode(const std::vector<float>& v, std::uint32_t levels, const std::string& what,
                       std::optional<float> scale = std::nullopt) {
  const std::size_t n = v.size();
  const unsigned level_bits = qsgd_bits_per_coordinate(levels) - 1;
  double sum = 0;
  for (const float x : v)
    sum += std::isnan(x) ? 0.0 : double(x) * double(x);
  const double norm = std::sqrt(sum);
  const detail::qsgd_quantizer q{levels, level_bits,
                                 scale ? static_cast<float>(levels) * *scale
                                       : static_cast<float>(levels) / static_cast<float>(norm)};
  const std::size_t words = (n * (level_bits + 1) + 63) / 64;
  std::vector<std::uint64_t> expected(words, 0);
  rng_engine expected_rng{levels};
  reference.qsgd_encode(v.data(), n, q, expected_rng, expected.data());
  for (const simd_level level : levels_to_check()) {
    std::vector<std::uint64_t> got(words, ~std::uint64_t{0});
    rng_engine rng{levels};
    kernels_at(level).qsgd_encode(v.data(), n, q, rng, got.data());
    BOOST_TEST(same_bits(got, expected), name(level)
                                             << " s = " << levels << " n = " << n << " " << what);
    BOOST_TEST((rng == expected_rng), name(level)
                                          << " s = " << levels << " n = " << n << " " << what);
  }
}

BOOST_AUTO_TEST_CASE(qsgd_encode_gives_the_reference_stream_and_draws_at_every_level) {
  // Every field width from 2 to 17 bits at both of its ends (s = 2^k - 1 and 2^k), so that
  // each width the kernels specialise is met with its largest level; lengths around the
  // kernels' blocks of 16, 32 and 64 coordinates and the 64 or more left to the tail, which
  // ends in a partial word; from 8192 on the v4 encoder runs its lanes in two chains, the
  // second jumped ahead (8191 is one chain, 8269 and 33333 two, the second longer).
  std::vector<std::uint32_t> all_levels;
  for (unsigned k = 1; k <= 16; ++k) {
    all_levels.push_back((1u << k) - 1);
    all_levels.push_back(std::min(1u << k, 65535u));
  }
  for (const std::uint32_t levels : all_levels)
    for (const std::size_t n : {1,   2,   7,   8,   63,  64,   65,   127,  128,  129,
                                191, 192, 193, 255, 273, 1000, 4097, 8191, 8269, 33333}) {
      // With NaNs, zeros, tiny and huge values in every block of 64 (qsgd_input) ...
      check_qsgd_encode(qsgd_input(n, levels + n), levels, "with specials");
      // ... and without: what the v4 encoder's blocks take all the way (with a NaN, an
      // overflow or a level of s + 1 below zero anywhere, it encodes the vector by the
      // reference's path).
      check_qsgd_encode(normal_vector(n, levels + n), levels, "normal");
    }
  // One coordinate carrying almost all of the norm gets level s or s + 1 before the cap, of
  // either sign; one NaN among many blocks sends the v4 encoder to the reference's path.
  for (const std::uint32_t levels : {1u, 3u, 16u, 63u, 127u, 128u, 255u}) {
    for (const float big : {1e4f, -1e4f}) {
      auto v = normal_vector(1000, levels);
      v[500] = big;
      check_qsgd_encode(v, levels, "one large coordinate");
    }
    auto v = normal_vector(1000, levels + 1);
    v[300] = std::numeric_limits<float>::quiet_NaN();
    check_qsgd_encode(v, levels, "one NaN");
  }
  // Levels far above s of either sign (capped at s with their sign), overflows past 2^31, and
  // infinities times a scale of 0 (NaN): in every block, at the widths' ends.
  for (const std::uint32_t levels : {1u, 2u, 15u, 16u, 127u, 128u, 255u, 32767u}) {
    auto v = normal_vector(5000, levels + 2);
    for (std::size_t j = 0; j < v.size(); j += 97)
      v[j] = (j / 97) % 2 == 0 ? std::numeric_limits<float>::infinity()
                               : -std::numeric_limits<float>::infinity();
    for (const float scale : {3.0f, 300.0f, 1e7f, 0.0f})
      check_qsgd_encode(v, levels, "scale " + std::to_string(scale), scale);
  }
}

BOOST_AUTO_TEST_CASE(a_lane_jumped_ahead_by_k_steps_is_the_lane_after_k_steps) {
  for (const std::uint64_t k :
       {0ull, 1ull, 2ull, 3ull, 127ull, 128ull, 129ull, 4096ull, 28672ull, 100003ull, 1ull << 20}) {
    std::uint32_t stepped[4] = {0x12345678u, 0x9abcdef0u, 0x0fedcba9u, 0x87654321u};
    std::uint32_t jumped[4] = {0x12345678u, 0x9abcdef0u, 0x0fedcba9u, 0x87654321u};
    for (std::uint64_t i = 0; i < k; ++i)
      detail::xoshiro128_step(stepped);
    detail::jump_lane(jumped, k);
    BOOST_TEST(std::equal(stepped, stepped + 4, jumped), "k = " << k);
  }
  // One step is qsgd_lanes::next's.
  rng_engine rng{5};
  detail::qsgd_lanes lanes{rng};
  std::uint32_t s[4] = {lanes.s[0][3], lanes.s[1][3], lanes.s[2][3], lanes.s[3][3]};
  std::uint32_t out[detail::qsgd_lane_count];
  lanes.next(out);
  detail::xoshiro128_step(s);
  BOOST_TEST((s[0] == lanes.s[0][3] && s[1] == lanes.s[1][3] && s[2] == lanes.s[2][3] &&
              s[3] == lanes.s[3][3]));
}

// The operator's engine seeds QSGD's 16 lanes and nothing more: 32 draws whatever d, so that
// what error feedback and checkpoints keep of the engine does not depend on the dimension; and
// coordinate j + 16 takes the next number of coordinate j's lane (the reference's layout).
BOOST_AUTO_TEST_CASE(qsgd_lanes_take_32_draws_and_coordinate_j_takes_lane_j_mod_16) {
  for (const std::size_t n : {1, 16, 1000}) {
    rng_engine used{7};
    std::vector<std::uint64_t> words((n * 2 + 63) / 64, 0);
    const auto v = normal_vector(n, 3);
    reference.qsgd_encode(v.data(), n, {1, 1, 0.5f}, used, words.data());
    rng_engine expected{7};
    for (int i = 0; i < 32; ++i)
      expected();
    BOOST_TEST((used == expected), "n = " << n);
  }
  rng_engine rng{11};
  detail::qsgd_lanes lanes{rng};
  rng_engine again{11};
  const std::uint64_t a = again(), b = again(); // lane 0's seed
  std::uint32_t s[4] = {static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(a >> 32),
                        static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32)};
  std::uint32_t out[detail::qsgd_lane_count];
  for (int step = 0; step < 3; ++step) { // xoshiro128+ by its published definition
    lanes.next(out);
    BOOST_TEST(out[0] == s[0] + s[3]);
    const std::uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = std::rotl(s[3], 11);
  }
}

BOOST_AUTO_TEST_CASE(qsgd_decode_gives_the_reference_floats_for_any_stream_at_every_level) {
  // Random streams: levels above s and signed zero levels too, as a hostile sender may send.
  for (unsigned level_bits = 1; level_bits <= 16; ++level_bits) {
    for (const std::size_t n : {1, 7, 8, 9, 15, 16, 17, 64, 100, 1001, 4099}) {
      rng_engine rng{level_bits * 1000 + n};
      std::vector<std::uint64_t> words((n * (level_bits + 1) + 63) / 64);
      for (auto& w : words)
        w = rng();
      const auto start = normal_vector(n, n);
      for (const detail::write_mode mode : {detail::write_mode{false, 1.0f}, {true, -0.75f}}) {
        auto expected = start;
        reference.qsgd_decode(words.data(), n, level_bits, 0.0123f, expected.data(), mode);
        for (const simd_level level : levels_to_check()) {
          auto got = start;
          kernels_at(level).qsgd_decode(words.data(), n, level_bits, 0.0123f, got.data(), mode);
          BOOST_TEST(same_bits(got, expected), name(level) << " bits " << level_bits << " n = " << n
                                                           << " accumulate " << mode.accumulate);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(qsgd_max_level_finds_the_reference_level_for_any_stream_at_every_level) {
  for (unsigned level_bits = 1; level_bits <= 16; ++level_bits) {
    for (const std::size_t n : {0, 1, 7, 8, 9, 64, 100, 1001}) {
      rng_engine rng{level_bits * 977 + n};
      std::vector<std::uint64_t> words((n * (level_bits + 1) + 63) / 64 + 1);
      // Sparse streams too, so that the largest level is not always the all-ones one.
      for (const int density : {0, 1, 4}) {
        for (auto& w : words)
          w = density == 0 ? rng() : rng() & rng() & (density == 4 ? rng() & rng() : ~0ull);
        const auto expected = reference.qsgd_max_level(words.data(), n, level_bits);
        for (const simd_level level : levels_to_check())
          BOOST_TEST(kernels_at(level).qsgd_max_level(words.data(), n, level_bits) == expected,
                     name(level) << " bits " << level_bits << " n = " << n << " density "
                                 << density);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(operators_give_the_same_messages_and_values_at_every_level) {
  active_level_guard guard;
  const auto with_nan = qsgd_input(10007, 9);
  const auto v = normal_vector(10007, 9); // a NaN makes QSGD's norm NaN: nothing to quantise
  for (const std::string spec : {"identity", "fp16", "qsgd:s=1", "qsgd:s=16", "qsgd:s=65535"}) {
    const auto op = make_compressor(spec);
    force_simd_level(simd_level::v2);
    rng_engine expected_rng{4};
    const compressed_message expected = op->compress(spec == "fp16" ? with_nan : v, expected_rng);
    const auto expected_values = decoded(expected);
    for (const simd_level level : levels_to_check()) {
      force_simd_level(level);
      rng_engine rng{4};
      const compressed_message m = op->compress(spec == "fp16" ? with_nan : v, rng);
      // On the wire, since the messages carry NaNs (which == would call unequal to themselves).
      BOOST_TEST((to_bytes(m) == to_bytes(expected)), spec << " at " << name(level));
      BOOST_TEST(same_bits(decoded(m), expected_values), spec << " at " << name(level));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
