#include "base/kind_tally.hpp"
#include "base/log_text.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace dsq;

BOOST_AUTO_TEST_SUITE(log_text)

BOOST_AUTO_TEST_CASE(short_printable_text_is_kept_as_it_is) {
  BOOST_TEST(log_safe("node-7.example.org") == "node-7.example.org");
  BOOST_TEST(log_safe("") == "");
}

BOOST_AUTO_TEST_CASE(control_characters_are_replaced) {
  BOOST_TEST(log_safe("a\nb\rc\x1b[31md\x7f") == "a?b?c?[31md?");
}

BOOST_AUTO_TEST_CASE(a_64_mib_host_name_is_cut_to_64_bytes_and_says_so) {
  const std::string huge(std::size_t{64} << 20, 'x');
  const auto line = log_safe(huge);
  BOOST_TEST(line == std::string(64, 'x') + "... (67108864 bytes, cut)");
  BOOST_TEST(log_safe(std::string(600, 'y'), log_text_chars).size() < 600u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(kind_tally_)

BOOST_AUTO_TEST_CASE(a_flood_of_one_kind_costs_a_line_per_power_of_ten) {
  kind_tally tally;
  std::vector<std::string> lines;
  for (int i = 0; i < 14'000; ++i)
    if (auto line = tally.count("'tick'", "unexpected message"))
      lines.push_back(*line);
  BOOST_REQUIRE(lines.size() == 5u); // 1, 10, 100, 1000, 10000
  BOOST_TEST(lines[0] == "ignored unexpected message ('tick'); further ones of this kind are "
                         "counted");
  BOOST_TEST(lines[4] == "ignored 10000 unexpected messages ('tick') so far");
  BOOST_TEST(tally.total() == 14'000u);
  BOOST_TEST(tally.of("'tick'") == 14'000u);
}

BOOST_AUTO_TEST_CASE(each_kind_is_reported_once_and_kinds_beyond_the_cap_are_other) {
  kind_tally tally;
  std::size_t firsts = 0;
  for (std::size_t k = 0; k < kind_tally::max_kinds + 5; ++k)
    if (tally.count("kind" + std::to_string(k), "unexpected message"))
      ++firsts;
  BOOST_TEST(firsts == kind_tally::max_kinds + 1); // and one for "other"
  BOOST_TEST(tally.of("other") == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
