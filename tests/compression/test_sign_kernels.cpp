// The sign operator's kernels at every SIMD level this machine supports against a scalar
// reference of sign.cpp's documented order of summation and against the v2 table, bit for bit;
// error feedback's fused pass for sign against the three passes it replaces; assign_scaled
// against filling with zeros and then add_scaled, for every operator.

#include "compression/compressor.hpp"
#include "compression/detail/sign_kernels.hpp"
#include "compression/error_feedback.hpp"
#include "compression/make_compressor.hpp"
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
#include <string>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;
using namespace dsq::test;
using detail::sign_kernel_table;
using detail::sign_kernels_at;
using detail::write_mode;

namespace {

// Lengths around the 64-coordinate words and the SIMD widths, and a long one.
const std::size_t lengths[] = {0, 1, 7, 15, 16, 17, 63, 64, 65, 127, 128, 200, 1000, 10007};

// Block sizes: none (one block), smaller than a word, equal to it, straddling word boundaries.
const std::size_t blocks[] = {0, 1, 5, 16, 63, 64, 65, 100, 129, 4096};

// Normal values with every special the encoder meets mixed in: zeros of both signs, infinities,
// NaNs of both signs (the default quiet NaN only: its magnitude is the one NaN of the sums, so
// that which of two NaNs an addition keeps cannot matter), tiny and huge values.
std::vector<float> awkward_vector(std::size_t d, std::uint64_t seed, bool specials = true) {
  auto v = normal_vector(d, seed);
  if (!specials)
    return v;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float values[] = {0.0f, -0.0f, inf, -inf, nan, -nan, 1e-40f, -3e38f};
  for (std::size_t j = 3; j < d; j += 37)
    v[j] = values[(j / 37) % std::size(values)];
  return v;
}

// sign.cpp's encoding written out one float at a time: per full word of 64, two sums of 4
// lanes (sum_a over the groups of 4 at 0, 8, ..., sum_b over those at 4, 12, ...), added lane
// by lane, then (l0 + l1) + (l2 + l3); the word's sum added in double to its block, unless the
// word straddles a block boundary, whose magnitudes, like the last partial word's, are added one
// by one in double.
struct reference_encoding {
  std::vector<std::uint64_t> bits;
  std::vector<double> sums;
};

reference_encoding encode_reference(const std::vector<float>& v, std::size_t block) {
  const std::size_t d = v.size();
  if (block == 0)
    block = d;
  reference_encoding r;
  r.bits.assign((d + 63) / 64, 0);
  r.sums.assign(d == 0 ? 0 : (d + block - 1) / block, 0.0);
  for (std::size_t j = 0; j < d; ++j)
    r.bits[j / 64] |= static_cast<std::uint64_t>(v[j] < 0.0f) << (j % 64);
  for (std::size_t w = 0; w < d / 64; ++w) {
    const std::size_t first = 64 * w;
    if (first / block == (first + 63) / block) {
      float sum_a[4] = {};
      float sum_b[4] = {};
      for (std::size_t t = 0; t < 8; ++t)
        for (std::size_t l = 0; l < 4; ++l) {
          sum_a[l] = sum_a[l] + std::fabs(v[first + 8 * t + l]);
          sum_b[l] = sum_b[l] + std::fabs(v[first + 8 * t + 4 + l]);
        }
      float lanes[4];
      for (std::size_t l = 0; l < 4; ++l)
        lanes[l] = sum_a[l] + sum_b[l];
      r.sums[first / block] += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    } else {
      for (std::size_t i = 0; i < 64; ++i)
        r.sums[(first + i) / block] += std::fabs(v[first + i]);
    }
  }
  for (std::size_t j = d / 64 * 64; j < d; ++j)
    r.sums[j / block] += std::fabs(v[j]);
  return r;
}

// Sums may be NaN: compared by their bits.
bool same_sums(const std::vector<double>& a, const std::vector<double>& b) {
  return same_bits(a, b);
}

enum class mode_kind { assign, add, add_to_zeros };

write_mode mode_of(mode_kind kind) {
  return {.accumulate = kind != mode_kind::assign,
          .scale = 1.0f,
          .onto_zeros = kind == mode_kind::add_to_zeros};
}

const char* name_of(mode_kind kind) {
  return kind == mode_kind::assign ? "assign" : kind == mode_kind::add ? "add" : "add_to_zeros";
}

// The decoded value x_j = ±magnitude written as the reference writes it.
void decode_reference(const std::vector<std::uint64_t>& bits, std::size_t begin, std::size_t end,
                      float magnitude, std::vector<float>& out, mode_kind kind) {
  for (std::size_t j = begin; j < end; ++j) {
    const bool negative = (bits[j / 64] >> (j % 64)) & 1u;
    const float x = std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) ^
                                         (negative ? 0x80000000u : 0u));
    if (kind == mode_kind::assign)
      out[j] = x;
    else if (kind == mode_kind::add)
      out[j] = out[j] + x;
    else
      out[j] = 0.0f + x;
  }
}

std::vector<std::uint64_t> random_words(std::size_t count, std::uint64_t seed) {
  rng_engine rng{seed};
  std::vector<std::uint64_t> words(count);
  for (auto& w : words)
    w = rng();
  return words;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sign_kernels)

BOOST_AUTO_TEST_CASE(encode_gives_the_reference_signs_and_sums_at_every_level) {
  for (const std::size_t d : lengths)
    for (const std::size_t block : blocks)
      for (const bool specials : {false, true}) {
        const auto v = awkward_vector(d, d + block, specials);
        const reference_encoding expected = encode_reference(v, block);
        const std::size_t block_size = block == 0 ? d : block;
        for (const simd_level level : supported_levels()) {
          std::vector<std::uint64_t> bits(expected.bits.size(), 0x5555'5555'5555'5555ULL);
          std::vector<double> sums(expected.sums.size(), 0.0);
          sign_kernels_at(level).encode(v.data(), d, block_size, bits.data(), sums.data());
          BOOST_TEST(bits == expected.bits,
                     "signs, d " << d << " block " << block << " at " << name(level));
          BOOST_TEST(same_sums(sums, expected.sums), "sums, d " << d << " block " << block
                                                                << " specials " << specials
                                                                << " at " << name(level));
        }
      }
}

BOOST_AUTO_TEST_CASE(add_encode_forms_v_and_its_reference_encoding_at_every_level) {
  for (const std::size_t d : lengths)
    for (const std::size_t block : blocks) {
      const auto g = awkward_vector(d, 7 * d + block);
      const auto delta = normal_vector(d, 3 * d + block);
      std::vector<float> v = delta;
      for (std::size_t j = 0; j < d; ++j)
        v[j] += g[j];
      const reference_encoding expected = encode_reference(v, block);
      const std::size_t block_size = block == 0 ? d : block;
      for (const simd_level level : supported_levels()) {
        std::vector<float> acc = delta;
        std::vector<std::uint64_t> bits(expected.bits.size(), ~0ULL);
        std::vector<double> sums(expected.sums.size(), 0.0);
        sign_kernels_at(level).add_encode(acc.data(), g.data(), d, block_size, bits.data(),
                                          sums.data());
        BOOST_TEST(same_bits(acc, v), "v, d " << d << " at " << name(level));
        BOOST_TEST(bits == expected.bits,
                   "signs, d " << d << " block " << block << " at " << name(level));
        BOOST_TEST(same_sums(sums, expected.sums),
                   "sums, d " << d << " block " << block << " at " << name(level));
      }
    }
}

BOOST_AUTO_TEST_CASE(decode_writes_the_reference_floats_in_every_mode_at_every_level) {
  const std::size_t d = 1000;
  const auto bits = random_words((d + 63) / 64, 11);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float magnitudes[] = {0.75f, 0.0f, -0.0f,  std::numeric_limits<float>::infinity(),
                              nan,   -nan, 1e-40f, -2.5f};
  // Ranges that start and end on and off every SIMD width and word boundary.
  const std::pair<std::size_t, std::size_t> ranges[] = {{0, d},    {0, 0},     {3, 4},    {5, 70},
                                                        {8, 24},   {16, 64},   {17, 129}, {63, 65},
                                                        {64, 999}, {100, 1000}};
  const auto initial = awkward_vector(d, 12);
  for (const float magnitude : magnitudes)
    for (const auto& [begin, end] : ranges)
      for (const mode_kind kind : {mode_kind::assign, mode_kind::add, mode_kind::add_to_zeros}) {
        std::vector<float> expected = initial;
        decode_reference(bits, begin, end, magnitude, expected, kind);
        for (const simd_level level : supported_levels()) {
          std::vector<float> out = initial;
          sign_kernels_at(level).decode(bits.data(), begin, end, magnitude, out.data(),
                                        mode_of(kind));
          BOOST_TEST(same_bits(out, expected), name_of(kind)
                                                   << " [" << begin << ", " << end << ") magnitude "
                                                   << magnitude << " at " << name(level));
        }
      }
}

BOOST_AUTO_TEST_CASE(decode_onto_zeros_equals_zeros_then_add_and_never_writes_minus_zero) {
  const std::size_t d = 333;
  const auto bits = random_words((d + 63) / 64, 13);
  for (const simd_level level : supported_levels())
    for (const float magnitude : {0.0f, -0.0f, 1.5f}) {
      std::vector<float> zeroed(d, 0.0f);
      sign_kernels_at(level).decode(bits.data(), 0, d, magnitude, zeroed.data(),
                                    mode_of(mode_kind::add));
      std::vector<float> garbage = awkward_vector(d, 14);
      sign_kernels_at(level).decode(bits.data(), 0, d, magnitude, garbage.data(),
                                    mode_of(mode_kind::add_to_zeros));
      BOOST_TEST(same_bits(garbage, zeroed), "magnitude " << magnitude << " at " << name(level));
      if (magnitude == 0.0f)
        BOOST_TEST(
            std::none_of(garbage.begin(), garbage.end(), [](float x) { return std::signbit(x); }),
            "a -0 written at " << name(level));
    }
}

BOOST_AUTO_TEST_CASE(sign_messages_and_decodes_are_the_same_at_every_level) {
  active_level_guard guard;
  for (const std::string spec : {"sign", "sign:block=5", "sign:block=64", "sign:block=100"})
    for (const std::size_t d : {std::size_t{0}, std::size_t{65}, std::size_t{10007}}) {
      const auto op = make_compressor(spec);
      const auto v = awkward_vector(d, 21);
      const auto out0 = normal_vector(d, 22);
      force_simd_level(simd_level::v2);
      rng_engine rng{1};
      const compressed_message expected = op->compress(v, rng);
      auto expected_sum = out0;
      add_scaled(expected, -0.5f, expected_sum);
      for (const simd_level level : supported_levels()) {
        force_simd_level(level);
        const compressed_message m = op->compress(v, rng);
        // On the wire, since the magnitudes may be NaN (which == calls unequal to itself).
        BOOST_TEST((to_bytes(m) == to_bytes(expected)),
                   spec << " d " << d << " at " << name(level));
        BOOST_TEST(same_bits(decoded(m), decoded(expected)), spec << " at " << name(level));
        auto sum = out0;
        add_scaled(m, -0.5f, sum);
        BOOST_TEST(same_bits(sum, expected_sum), spec << " at " << name(level));
      }
    }
}

BOOST_AUTO_TEST_CASE(fused_error_feedback_equals_the_three_passes_at_every_level) {
  active_level_guard guard;
  for (const std::string spec : {"sign", "sign:block=5", "sign:block=100"})
    for (const std::size_t d :
         {std::size_t{1}, std::size_t{64}, std::size_t{1000}, std::size_t{10007}}) {
      const auto op = make_compressor(spec);
      for (const simd_level level : supported_levels()) {
        force_simd_level(level);
        error_feedback fused{d};
        std::vector<float> delta(d, 0.0f);
        rng_engine rng{5};
        compressed_message c_fused;
        compressed_message c_unfused;
        for (int step = 0; step < 4; ++step) {
          // Specials (zeros, infinities, NaNs) in the first step only: they turn δ into NaNs,
          // and which of two NaNs an addition keeps is the compiler's choice.
          const auto g = awkward_vector(d, 100 * step + d, step == 0);
          fused.compress_into(*op, g, rng, c_fused);
          feedback_in_three_passes(*op, delta, g, rng, c_unfused);
          BOOST_TEST((to_bytes(c_fused) == to_bytes(c_unfused)),
                     spec << " d " << d << " step " << step << " at " << name(level));
          BOOST_TEST(same_bits(std::vector<float>(fused.residual().begin(), fused.residual().end()),
                               delta),
                     spec << " d " << d << " step " << step << " at " << name(level));
        }
      }
    }
}

BOOST_AUTO_TEST_CASE(assign_scaled_equals_zeros_then_add_scaled_for_every_operator) {
  active_level_guard guard;
  auto specs = all_specs();
  specs.push_back("sign:block=64");
  const std::size_t d = 1003;
  auto v = awkward_vector(d, 31, false);
  for (std::size_t j = 0; j < d; j += 11)
    v[j] = (j / 11) % 2 == 0 ? 0.0f : -0.0f;
  for (const simd_level level : supported_levels()) {
    force_simd_level(level);
    for (const std::string& spec : specs) {
      const auto op = make_compressor(spec);
      rng_engine rng{6};
      const compressed_message m = op->compress(v, rng);
      for (const float scale : {0.25f, -1.0f, 0.0f, -0.0f}) {
        std::vector<float> expected(d, 0.0f);
        add_scaled(m, scale, expected);
        std::vector<float> out = awkward_vector(d, 32); // what was there must not matter
        assign_scaled(m, scale, out);
        BOOST_TEST(same_bits(out, expected), spec << " scale " << scale << " at " << name(level));
        BOOST_TEST(std::none_of(out.begin(), out.end(),
                                [](float x) { return x == 0.0f && std::signbit(x); }),
                   spec << " wrote a -0 with scale " << scale << " at " << name(level));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(assign_scaled_refuses_what_add_scaled_refuses) {
  const auto op = make_compressor("sign");
  rng_engine rng{7};
  const compressed_message m = op->compress(normal_vector(10, 8), rng);
  std::vector<float> wrong(11);
  BOOST_CHECK_THROW(assign_scaled(m, 1.0f, wrong), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
