// Sign's chunked passes against the passes they replace, bit for bit, at every SIMD level:
// error feedback whose δ ← v − c waits for the next step, the server's mean formed chunk by
// chunk, and several updates added to x in one pass (add_scaled_in_turn).

#include "compression/compressor.hpp"
#include "compression/error_feedback.hpp"
#include "compression/make_compressor.hpp"
#include "compression/sign.hpp"
#include "compression/wire.hpp"
#include "simd_levels.hpp"
#include "test_support.hpp"
#include "tests/support/same_bits.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;
using namespace dsq::test;

namespace {

// Block sizes whose chunks differ: one block; a multiple of 64; 5 and 100 (chunks of whole
// blocks and words: 3840 and 3200 coordinates); 4096 (one block a chunk); a prime whose
// least common multiple with 64 is past the chunk limit (one chunk for everything).
const std::vector<std::string> specs = {"sign",           "sign:block=64",   "sign:block=5",
                                        "sign:block=100", "sign:block=4096", "sign:block=99991"};

// Lengths: below a word, a word, across several chunks with a partial last word.
const std::size_t lengths[] = {1, 64, 1000, 3 * 4096 + 5};

std::vector<float> copy_of(std::span<const float> v) {
  return {v.begin(), v.end()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(sign_feedback)

// Steps one after the other without reading δ in between (each step subtracts the previous c
// in its own pass), then δ read once: every message and the final δ are the three passes'.
BOOST_AUTO_TEST_CASE(a_deferred_residual_gives_the_three_passes_messages_and_residual) {
  active_level_guard guard;
  for (const auto& spec : specs)
    for (const std::size_t d : lengths)
      for (const simd_level level : supported_levels()) {
        force_simd_level(level);
        const auto op = make_compressor(spec);
        error_feedback deferred{d};
        std::vector<float> delta(d, 0.0f);
        rng_engine rng{3};
        compressed_message c, expected;
        for (int step = 0; step < 5; ++step) {
          const auto g = normal_vector(d, 10 * step + d);
          deferred.compress_into(*op, g, rng, c);
          feedback_in_three_passes(*op, delta, g, rng, expected);
          BOOST_TEST((to_bytes(c) == to_bytes(expected)),
                     spec << " d " << d << " step " << step << " at " << name(level));
          if (step == 2) // read in the middle too: it settles δ, and the next step goes on
            BOOST_TEST(same_bits(copy_of(std::as_const(deferred).residual()), delta));
        }
        BOOST_TEST(same_bits(copy_of(std::as_const(deferred).residual()), delta),
                   spec << " d " << d << " at " << name(level));
      }
}

// The server's v = w Σ c⁽ⁱ⁾ + δ from sign pushes (of another block size than the downlink's
// too), with one push and with three: the messages and δ of forming the mean with
// assign_scaled and add_scaled and then the three passes.
BOOST_AUTO_TEST_CASE(the_mean_formed_chunk_by_chunk_equals_the_mean_then_the_three_passes) {
  active_level_guard guard;
  for (const std::string up : {"sign", "sign:block=100"})
    for (const std::string down : {"sign", "sign:block=5", "sign:block=4096"})
      for (const std::size_t pushes_per_step : {std::size_t{1}, std::size_t{3}})
        for (const simd_level level : supported_levels()) {
          force_simd_level(level);
          const std::size_t d = 3 * 4096 + 5;
          const auto uplink = make_compressor(up);
          const auto downlink = make_compressor(down);
          const float w = 1.0f / static_cast<float>(pushes_per_step);
          error_feedback chunked{d};
          std::vector<float> delta(d, 0.0f), mean(d);
          rng_engine rng{7};
          compressed_message c, expected;
          for (int step = 0; step < 4; ++step) {
            std::vector<compressed_message> pushes;
            for (std::size_t i = 0; i < pushes_per_step; ++i)
              pushes.push_back(uplink->compress(normal_vector(d, 100 * step + i), rng));
            BOOST_TEST_REQUIRE(chunked.compress_mean_into(*downlink, pushes, w, c));
            assign_scaled(pushes[0], w, mean);
            for (std::size_t i = 1; i < pushes.size(); ++i)
              add_scaled(pushes[i], w, mean);
            feedback_in_three_passes(*downlink, delta, mean, rng, expected);
            BOOST_TEST((to_bytes(c) == to_bytes(expected)),
                       up << " -> " << down << " step " << step << " at " << name(level));
          }
          BOOST_TEST(same_bits(copy_of(std::as_const(chunked).residual()), delta),
                     up << " -> " << down << " at " << name(level));
        }
}

// Where the chunked mean does not apply it says so and changes nothing: the caller forms the
// mean itself.
BOOST_AUTO_TEST_CASE(the_chunked_mean_declines_other_operators_and_other_pushes) {
  const std::size_t d = 100;
  rng_engine rng{1};
  error_feedback feedback{d};
  compressed_message c;
  const auto sign = make_compressor("sign");
  const auto topk = make_compressor("topk:k=3");
  const std::vector<compressed_message> sign_pushes{sign->compress(normal_vector(d, 1), rng)};
  const std::vector<compressed_message> topk_pushes{topk->compress(normal_vector(d, 2), rng)};
  BOOST_TEST(!feedback.compress_mean_into(*topk, sign_pushes, 1.0f, c));
  BOOST_TEST(!feedback.compress_mean_into(*sign, topk_pushes, 1.0f, c));
  BOOST_TEST(!feedback.compress_mean_into(*sign, {}, 1.0f, c));
  BOOST_TEST(same_bits(copy_of(std::as_const(feedback).residual()), std::vector<float>(d, 0.0f)));
}

// A push of another dimension is refused before δ changes.
BOOST_AUTO_TEST_CASE(a_push_of_another_dimension_is_refused_and_the_residual_kept) {
  rng_engine rng{1};
  const auto sign = make_compressor("sign");
  error_feedback feedback{100};
  compressed_message c;
  feedback.compress_into(*sign, normal_vector(100, 1), rng, c); // δ now deferred
  const std::vector<compressed_message> wrong{sign->compress(normal_vector(99, 2), rng)};
  std::vector<float> delta(100, 0.0f);
  compressed_message unused;
  feedback_in_three_passes(*sign, delta, normal_vector(100, 1), rng, unused);
  BOOST_CHECK_THROW(feedback.compress_mean_into(*sign, wrong, 1.0f, c), std::invalid_argument);
  BOOST_TEST(same_bits(copy_of(std::as_const(feedback).residual()), delta));
}

// Several updates with their own step sizes added in one pass: x of add_scaled one after the
// other, with updates of different block sizes.
BOOST_AUTO_TEST_CASE(add_scaled_in_turn_equals_add_scaled_one_after_the_other) {
  active_level_guard guard;
  for (const std::size_t d : lengths)
    for (const simd_level level : supported_levels()) {
      force_simd_level(level);
      rng_engine rng{9};
      std::vector<compressed_message> updates;
      std::vector<float> scales;
      for (int k = 0; k < 6; ++k) {
        const auto op = make_compressor(specs[static_cast<std::size_t>(k) % specs.size()]);
        updates.push_back(op->compress(normal_vector(d, 50 + k), rng));
        scales.push_back(-0.01f * static_cast<float>(k + 1));
      }
      auto expected = normal_vector(d, 99);
      auto x = expected;
      for (std::size_t k = 0; k < updates.size(); ++k)
        add_scaled(updates[k], scales[k], expected);
      add_scaled_in_turn(updates, scales, x);
      BOOST_TEST(same_bits(x, expected), "d " << d << " at " << name(level));
    }
}

BOOST_AUTO_TEST_CASE(add_scaled_in_turn_refuses_before_x_changes) {
  rng_engine rng{1};
  const std::vector<compressed_message> updates{
      make_compressor("sign")->compress(normal_vector(10, 1), rng),
      make_compressor("topk:k=2")->compress(normal_vector(10, 2), rng)};
  auto x = normal_vector(10, 3);
  const auto before = x;
  const std::vector<float> one_scale{1.0f};
  BOOST_CHECK_THROW(add_scaled_in_turn(updates, one_scale, x), std::invalid_argument);
  const std::vector<float> two_scales{1.0f, 1.0f};
  BOOST_CHECK_THROW(add_scaled_in_turn(updates, two_scales, x), std::invalid_argument);
  BOOST_TEST(same_bits(x, before));
}

BOOST_AUTO_TEST_SUITE_END()
