// --aggregate (issue 29, item 3): the coordinate-wise median and trimmed mean against hand
// computations, the mean unchanged bit for bit, and the option's checks and checkpoint spec.
#define BOOST_TEST_MODULE robust_aggregate
#include <boost/test/unit_test.hpp>

#include "compression/compressor.hpp"
#include "compression/make_compressor.hpp"
#include "config/aggregate_rule.hpp"
#include "config/run_config.hpp"
#include "training/double_squeeze.hpp"
#include "training/robust_aggregate.hpp"
#include "training/training_spec.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

using namespace dsq;

namespace {

const aggregate_rule median_rule{aggregate_kind::median, 0};

aggregate_rule trimmed(std::size_t f) {
  return {aggregate_kind::trimmed_mean, f};
}

float value_of(const aggregate_rule& rule, std::vector<float> values) {
  return robust_value(rule, values);
}

/// Pushes sent exactly (the identity operator), one per row.
std::vector<compressed_message> exact_pushes(const std::vector<std::vector<float>>& rows) {
  auto op = make_compressor("identity");
  rng_engine rng{1};
  std::vector<compressed_message> pushes;
  for (const auto& r : rows)
    pushes.push_back(op->compress(r, rng));
  return pushes;
}

std::vector<float> combined(const aggregate_rule& rule, const std::vector<compressed_message>& p,
                            std::size_t dim) {
  std::vector<float> out(dim), scratch;
  robust_combine(rule, p, out, scratch);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(rules)

BOOST_AUTO_TEST_CASE(the_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones) {
  BOOST_TEST(value_of(median_rule, {3, 1, 2}) == 2.0f);            // n odd
  BOOST_TEST(value_of(median_rule, {4, 1, 3, 2}) == 2.5f);         // n even
  BOOST_TEST(value_of(median_rule, {5, 5, 1, 5}) == 5.0f);         // ties in the middle
  BOOST_TEST(value_of(median_rule, {7}) == 7.0f);                  // a single push
  BOOST_TEST(value_of(median_rule, {-1, 1e30f, 0, 2, 3}) == 2.0f); // one huge value moves nothing
}

BOOST_AUTO_TEST_CASE(the_trimmed_mean_averages_what_is_left_after_dropping_f_at_each_end) {
  BOOST_TEST(value_of(trimmed(1), {10, 1, 2, 3, -7}) == 2.0f);  // (1 + 2 + 3) / 3
  BOOST_TEST(value_of(trimmed(1), {1, 2, 3, 100}) == 2.5f);     // n even: (2 + 3) / 2
  BOOST_TEST(value_of(trimmed(2), {9, 1, 1, 4, 1, 6}) == 2.5f); // ties: (1 + 4) / 2
  BOOST_TEST(value_of(trimmed(1), {2, 2, 2}) == 2.0f);          // all equal
  // A step that lost members to departures: n <= 2F falls back to the median.
  BOOST_TEST(value_of(trimmed(2), {1, 2, 3, 40}) == 2.5f);
  BOOST_TEST(value_of(trimmed(1), {1, 40}) == 20.5f);
}

BOOST_AUTO_TEST_CASE(pushes_are_combined_coordinate_by_coordinate_whatever_their_order) {
  const std::vector<std::vector<float>> rows{
      {1, 10, -3}, {2, 20, -1}, {3, 30, -2}, {4, 40, 100}, {100, -100, 0}};
  const auto m = combined(median_rule, exact_pushes(rows), 3);
  BOOST_TEST(m == (std::vector<float>{3, 20, -1}), boost::test_tools::per_element());
  const auto t = combined(trimmed(1), exact_pushes(rows), 3);
  BOOST_TEST(t == (std::vector<float>{3, 20, -1}), boost::test_tools::per_element());
  auto reversed = rows;
  std::reverse(reversed.begin(), reversed.end());
  BOOST_TEST(combined(median_rule, exact_pushes(reversed), 3) == m,
             boost::test_tools::per_element());
  BOOST_TEST(combined(trimmed(1), exact_pushes(reversed), 3) == t,
             boost::test_tools::per_element());
  // Four pushes: the median is the mean of the two middle values of every coordinate.
  const std::vector<std::vector<float>> four{{1, 0}, {2, 0}, {4, 1}, {8, 1}};
  BOOST_TEST(combined(median_rule, exact_pushes(four), 2) == (std::vector<float>{3, 0.5f}),
             boost::test_tools::per_element());
}

// Up to 16 pushes are sorted row-wide, more one coordinate at a time: both give what the rule
// of one coordinate gives, for n on either side of the limit and ties from a coarse grid.
BOOST_AUTO_TEST_CASE(every_way_of_sorting_gives_the_rule_of_one_coordinate) {
  std::mt19937_64 gen{11};
  std::uniform_int_distribution<int> grid(-4, 4);
  for (std::size_t n : {1, 2, 3, 5, 8, 16, 17, 40})
    for (const auto& rule : {median_rule, trimmed(1), trimmed(3)}) {
      constexpr std::size_t dim = 1500; // more than one block of coordinates
      std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
      for (auto& r : rows)
        for (auto& v : r)
          v = 0.5f * static_cast<float>(grid(gen));
      const auto all = combined(rule, exact_pushes(rows), dim);
      for (std::size_t j = 0; j < dim; ++j) {
        std::vector<float> column;
        for (const auto& r : rows)
          column.push_back(r[j]);
        BOOST_TEST_REQUIRE(all[j] == value_of(rule, column),
                           "n " << n << " " << to_string(rule) << " coordinate " << j);
      }
    }
}

BOOST_AUTO_TEST_CASE(the_robust_rules_do_not_form_the_mean_and_need_pushes) {
  std::vector<float> out(1), scratch;
  BOOST_CHECK_THROW(robust_combine(aggregate_rule{}, exact_pushes({{1}}), out, scratch),
                    std::invalid_argument);
  BOOST_CHECK_THROW(robust_combine(median_rule, {}, out, scratch), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(server_step)

// The default is Algorithm 1's mean: the same bits, step after step, as the function without a
// rule (which every bit-for-bit check of the project runs), residual included.
BOOST_AUTO_TEST_CASE(the_mean_rule_is_the_old_mean_bit_for_bit) {
  constexpr std::size_t dim = 101;
  std::mt19937_64 gen{3};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  compression_pass down_old("sign", true, dim), down_new("sign", true, dim);
  Eigen::VectorXf avg_old(dim), avg_new(dim);
  std::vector<float> scratch;
  rng_engine rng_old{5}, rng_new{5};
  auto up = make_compressor("topk:k=10");
  for (int step = 0; step < 20; ++step) {
    std::vector<compressed_message> pushes;
    for (int i = 0; i < 5; ++i) {
      std::vector<float> g(dim);
      for (auto& v : g)
        v = normal(gen);
      pushes.push_back(up->compress(g, rng_old));
    }
    const float w = 1.0f / 5.0f;
    auto c_old = server_aggregate(pushes, w, down_old, avg_old, rng_old);
    auto c_new = server_aggregate(pushes, w, aggregate_rule{}, down_new, avg_new, scratch, rng_new);
    std::vector<float> a(dim), b(dim);
    decompress(c_old, a);
    decompress(c_new, b);
    BOOST_TEST(std::memcmp(a.data(), b.data(), dim * sizeof(float)) == 0);
    BOOST_TEST(std::memcmp(avg_old.data(), avg_new.data(), dim * sizeof(float)) == 0);
    BOOST_TEST(std::memcmp(down_old.residual().data(), down_new.residual().data(),
                           dim * sizeof(float)) == 0);
  }
}

// v = A(c⁽¹⁾..c⁽ⁿ⁾) + δ; c = C[v]; δ ← v − c, with A the median: a member pushing +10 on every
// coordinate among four honest ones moves the server's update no further than the honest range.
BOOST_AUTO_TEST_CASE(the_median_goes_through_the_server_residual) {
  const std::vector<std::vector<float>> rows{
      {0.1f, -0.2f}, {0.3f, -0.1f}, {0.2f, -0.3f}, {0.0f, 0.1f}, {10, 10}};
  compression_pass down("sign", true, 2);
  Eigen::VectorXf avg(2);
  std::vector<float> scratch;
  rng_engine rng{9};
  auto c = server_aggregate(exact_pushes(rows), 0.2f, median_rule, down, avg, scratch, rng);
  BOOST_TEST(avg[0] == 0.2f);  // 0, 0.1, [0.2], 0.3, 10
  BOOST_TEST(avg[1] == -0.1f); // -0.3, -0.2, [-0.1], 0.1, 10
  std::vector<float> sent(2);
  decompress(c, sent);
  // δ ← v − c: what C dropped from A, not from the attacker's push.
  BOOST_TEST(down.residual()[0] == avg[0] - sent[0]);
  BOOST_TEST(down.residual()[1] == avg[1] - sent[1]);
  // sign: (|0.2| + |-0.1|) / 2 = 0.15 per coordinate, within the honest values' range.
  BOOST_TEST(sent[0] == 0.15f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(sent[1] == -0.15f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(option)

// Krum (Blanchard et al. 2017): each push scored by its summed squared distance to its
// n - F - 2 nearest others; the lowest wins, whole. Five pushes of 3 coordinates, F = 1: three
// near (0, 0, 0), one at (1, 1, 1), one liar at (10, 10, 10). Scores with 2 neighbours: row 1
// 0.0125 + 0.05, row 2 0.0425 + 0.05, row 4 0.0125 + 0.0425 (the lowest).
BOOST_AUTO_TEST_CASE(krum_picks_the_push_closest_to_its_nearest_others_whole) {
  const std::vector<std::vector<float>> rows{
      {10, 10, 10}, {0.1f, 0, 0}, {0, 0.2f, 0}, {1, 1, 1}, {0, 0, 0.05f}};
  std::vector<float> flat;
  for (const auto& r : rows)
    flat.insert(flat.end(), r.begin(), r.end());
  BOOST_TEST(krum_choice(1, flat, 5) == 4u);
  auto pushes = exact_pushes(rows);
  std::vector<float> out(3), scratch;
  robust_combine({aggregate_kind::krum, 1}, pushes, out, scratch);
  BOOST_TEST(out == rows[4], boost::test_tools::per_element());
  // The liar is never chosen, however large.
  auto far = rows;
  far[0] = {1e30f, -1e30f, 1e30f};
  auto far_pushes = exact_pushes(far);
  robust_combine({aggregate_kind::krum, 1}, far_pushes, out, scratch);
  BOOST_TEST(out == rows[4], boost::test_tools::per_element());
  // Fewer than 2F + 3 pushes (a step after departures): the median of each coordinate.
  std::vector<std::vector<float>> three{{1, 5, 9}, {2, 6, 7}, {3, 4, 8}};
  auto few = exact_pushes(three);
  robust_combine({aggregate_kind::krum, 1}, few, out, scratch);
  BOOST_TEST(out == (std::vector<float>{2, 5, 8}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_spellings_read_back) {
  for (const char* spec :
       {"mean", "median", "trimmed-mean:f=1", "trimmed-mean:f=12", "krum:f=1", "krum:f=3"})
    BOOST_TEST(to_string(parse_aggregate_rule(spec)) == spec);
  for (const char* bad : {"", "Mean", "krum", "trimmed-mean", "trimmed-mean:f=0",
                          "trimmed-mean:f=-1", "trimmed-mean:f=2x", "median:f=1", "krum:f=0"})
    BOOST_CHECK_THROW(parse_aggregate_rule(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(validation_names_the_option_and_why) {
  run_config cfg;
  cfg.aggregate = "median";
  BOOST_CHECK_NO_THROW(validate(cfg));
  cfg.mode = "async";
  try {
    validate(cfg);
    BOOST_FAIL("--aggregate=median with --mode=async was accepted");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()}.find("--aggregate=median is for --mode=sync") == 0);
  }
  cfg.mode = "sync";
  cfg.aggregate = "trimmed-mean:f=2";
  cfg.workers = 4;
  try {
    validate(cfg);
    BOOST_FAIL("--aggregate=trimmed-mean:f=2 with 4 workers was accepted");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()}.find("needs more than 2F = 4 workers") != std::string::npos);
  }
  cfg.workers = 5;
  BOOST_CHECK_NO_THROW(validate(cfg));
  cfg.aggregate = "krum";
  BOOST_CHECK_THROW(validate(cfg), config_error);
  cfg.aggregate = "krum:f=1";
  cfg.workers = 4;
  try {
    validate(cfg);
    BOOST_FAIL("--aggregate=krum:f=1 with 4 workers was accepted");
  } catch (const config_error& e) {
    BOOST_TEST(std::string{e.what()}.find("needs at least 2F + 3 = 5 workers") !=
               std::string::npos);
  }
  cfg.workers = 5;
  BOOST_CHECK_NO_THROW(validate(cfg));
  BOOST_TEST(shared_training_part(cfg).aggregate == "mean"); // the server's business only
}

BOOST_AUTO_TEST_CASE(a_resume_with_another_rule_is_refused) {
  run_config mean_run, median_run;
  median_run.aggregate = "median";
  const auto mean_spec = training_spec_text(mean_run);
  const auto median_spec = training_spec_text(median_run);
  BOOST_TEST(mean_spec.find("--aggregate=mean\n") != std::string::npos);
  BOOST_TEST(training_spec_differences(median_spec, median_spec).empty());
  BOOST_TEST(training_spec_differences(median_spec, mean_spec) ==
             "checkpoint was written with --aggregate=median, this run has --aggregate=mean");
  // A checkpoint from before the option was written by the mean.
  std::string old_spec = mean_spec;
  old_spec.erase(old_spec.find("--aggregate=mean\n"));
  BOOST_TEST(training_spec_differences(old_spec, mean_spec).empty());
  BOOST_TEST(!training_spec_differences(old_spec, median_spec).empty());
}

BOOST_AUTO_TEST_SUITE_END()
