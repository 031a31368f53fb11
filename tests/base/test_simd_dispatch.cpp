#include "base/simd/machine_levels.hpp"
#include "base/simd/simd_dispatch.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace dsq;

namespace {

simd_level_set levels(std::initializer_list<simd_level> list) {
  simd_level_set set;
  for (const simd_level level : list)
    set.add(level);
  return set;
}

// The message of the simd_level_error that choose_simd_level throws, or "" if it throws none.
std::string refusal(simd_level_set machine, const char* forced) {
  try {
    choose_simd_level(machine, forced);
  } catch (const simd_level_error& e) {
    return e.what();
  }
  return "";
}

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(simd_dispatch)

BOOST_AUTO_TEST_CASE(names_are_what_dsq_simd_accepts_and_nothing_else_parses) {
  for (const simd_level level : all_simd_levels)
    BOOST_TEST((parse_simd_level(name(level)) == level));
  for (const char* text : {"", "v1", "v5", "V3", "v3 ", "avx2", "x86-64-v3"})
    BOOST_TEST(!parse_simd_level(text).has_value(), "'" << text << "'");
}

BOOST_AUTO_TEST_CASE(a_set_knows_its_best_level_and_lists_its_levels_lowest_first) {
  BOOST_TEST(!simd_level_set{}.best().has_value());
  BOOST_TEST(simd_level_set{}.to_string() == "none");
  BOOST_TEST((levels({simd_level::v3, simd_level::v2}).best() == simd_level::v3));
  BOOST_TEST(levels({simd_level::v4, simd_level::v2}).to_string() == "v2, v4");
  BOOST_TEST(!levels({simd_level::v2}).contains(simd_level::v3));
}

BOOST_AUTO_TEST_CASE(unforced_the_best_level_of_the_machine_is_chosen) {
  const auto all = levels({simd_level::v2, simd_level::v3, simd_level::v4});
  BOOST_TEST((choose_simd_level(all, nullptr) == simd_level::v4));
  BOOST_TEST((choose_simd_level(all, "") == simd_level::v4));
  BOOST_TEST(
      (choose_simd_level(levels({simd_level::v2, simd_level::v3}), nullptr) == simd_level::v3));
  BOOST_TEST((choose_simd_level(levels({simd_level::v2}), nullptr) == simd_level::v2));
}

BOOST_AUTO_TEST_CASE(a_forced_level_the_machine_supports_is_chosen) {
  const auto all = levels({simd_level::v2, simd_level::v3, simd_level::v4});
  for (const simd_level level : all_simd_levels)
    BOOST_TEST((choose_simd_level(all, name(level)) == level));
  BOOST_TEST((choose_simd_level(levels({simd_level::v2, simd_level::v3}), "v2") == simd_level::v2));
}

BOOST_AUTO_TEST_CASE(a_forced_level_beyond_the_machine_is_refused_naming_level_machine_and_fix) {
  const std::string message = refusal(levels({simd_level::v2, simd_level::v3}), "v4");
  BOOST_TEST(mentions(message, "DSQ_SIMD=v4"), message);
  BOOST_TEST(mentions(message, "AVX-512"), message); // what the level needs
  BOOST_TEST(mentions(message, "v2, v3"), message);  // what the machine has
  BOOST_TEST(mentions(message, "set DSQ_SIMD=v3 or unset it"), message);
  BOOST_TEST(message.find('\n') == std::string::npos, message);

  const std::string v3 = refusal(levels({simd_level::v2}), "v3");
  BOOST_TEST(mentions(v3, "DSQ_SIMD=v3"), v3);
  BOOST_TEST(mentions(v3, "AVX2"), v3);
  BOOST_TEST(mentions(v3, "set DSQ_SIMD=v2"), v3);
}

BOOST_AUTO_TEST_CASE(an_unknown_level_is_refused_with_the_accepted_names) {
  const std::string message = refusal(levels({simd_level::v2, simd_level::v3}), "avx2");
  BOOST_TEST(mentions(message, "DSQ_SIMD='avx2'"), message);
  BOOST_TEST(mentions(message, "v2, v3 or v4"), message);
  BOOST_TEST(mentions(message, "(v3)"), message); // what unsetting it would give
}

BOOST_AUTO_TEST_CASE(a_machine_below_the_baseline_is_refused_even_unforced) {
  BOOST_TEST(!refusal(simd_level_set{}, nullptr).empty());
}

BOOST_AUTO_TEST_CASE(this_machine_runs_the_baseline_its_levels_nest_and_the_active_one_is_its_own) {
  const simd_level_set machine = machine_simd_levels();
  BOOST_TEST(machine.contains(simd_level::v2)); // this test, built for v2, is running
  if (machine.contains(simd_level::v4))
    BOOST_TEST(machine.contains(simd_level::v3));
  BOOST_TEST(machine.contains(active_simd_level()), name(active_simd_level()));
}

BOOST_AUTO_TEST_CASE(forcing_a_level_the_machine_lacks_is_refused_and_changes_nothing) {
  const simd_level before = active_simd_level();
  for (const simd_level level : all_simd_levels) {
    if (machine_simd_levels().contains(level))
      continue;
    BOOST_CHECK_THROW(force_simd_level(level), simd_level_error);
    BOOST_TEST((active_simd_level() == before));
  }
  force_simd_level(before); // a supported level is accepted
  BOOST_TEST((active_simd_level() == before));
}

BOOST_AUTO_TEST_SUITE_END()
