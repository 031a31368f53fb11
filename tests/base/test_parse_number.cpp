#include "base/parse_number.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>

using namespace dsq;

namespace {

// The problem parse_number<T> reports for `text`, or "(accepted)".
template <class T>
std::string problem_of(std::string_view text) {
  const auto result = parse_number<T>(text);
  return result ? "(accepted)" : result.problem;
}

} // namespace

BOOST_AUTO_TEST_SUITE(parse_number_suite)

BOOST_AUTO_TEST_CASE(plain_numbers_and_a_leading_plus_are_read) {
  BOOST_TEST(*parse_number<double>("1e-4") == 1e-4);
  BOOST_TEST(*parse_number<float>("-2.5") == -2.5f);
  BOOST_TEST(*parse_number<float>("+0.5") == 0.5f);
  BOOST_TEST(*parse_number<std::int32_t>("+1") == 1);
  BOOST_TEST(*parse_number<std::int32_t>("-1") == -1);
  BOOST_TEST(*parse_number<std::uint64_t>("18446744073709551615") == 18446744073709551615u);
  BOOST_TEST(*parse_number<std::int64_t>("-9223372036854775808") == INT64_MIN);
}

BOOST_AUTO_TEST_CASE(an_integer_may_be_a_whole_number_in_any_notation) {
  BOOST_TEST(*parse_number<std::uint32_t>("1e3") == 1000u);
  BOOST_TEST(*parse_number<std::int32_t>("3.0") == 3);
  BOOST_TEST(*parse_number<std::int32_t>("-2e0") == -2);
  BOOST_TEST(problem_of<std::int32_t>("1.5") == "is not a whole number");
}

BOOST_AUTO_TEST_CASE(values_that_overflow_their_type_are_rejected) {
  BOOST_TEST(problem_of<float>("1e39") == "is out of range for a 32-bit float");
  BOOST_TEST(problem_of<float>("-1e39") == "is out of range for a 32-bit float");
  BOOST_TEST(problem_of<float>("1e-50") == "is out of range for a 32-bit float");
  BOOST_TEST(problem_of<double>("1e400") == "is out of range for a 64-bit float");
  BOOST_TEST(*parse_number<double>("1e39") == 1e39);
  BOOST_TEST(problem_of<std::uint64_t>("1e20") == "is out of range for an unsigned 64-bit integer");
  BOOST_TEST(problem_of<std::uint64_t>("18446744073709551616") ==
             "is out of range for an unsigned 64-bit integer");
  BOOST_TEST(problem_of<std::int64_t>("9223372036854775808") ==
             "is out of range for a signed 64-bit integer");
  BOOST_TEST(problem_of<std::int64_t>("-1e19") == "is out of range for a signed 64-bit integer");
  BOOST_TEST(problem_of<std::uint32_t>("4294967296") ==
             "is out of range for an unsigned 32-bit integer");
  BOOST_TEST(problem_of<std::uint32_t>("4.294967296e9") ==
             "is out of range for an unsigned 32-bit integer");
  BOOST_TEST(*parse_number<std::uint32_t>("4294967295") == 4294967295u);
  BOOST_TEST(problem_of<std::int32_t>("2147483648") ==
             "is out of range for a signed 32-bit integer");
  BOOST_TEST(problem_of<std::int32_t>("1e400") == "is out of range for a signed 32-bit integer");
  BOOST_TEST(problem_of<std::uint64_t>("-1") == "is negative");
}

BOOST_AUTO_TEST_CASE(trailing_garbage_and_non_numbers_are_rejected) {
  BOOST_TEST(problem_of<double>("1.5x") == "has trailing characters 'x'");
  BOOST_TEST(problem_of<std::uint32_t>("4k") == "has trailing characters 'k'");
  BOOST_TEST(problem_of<std::int64_t>("12 3") == "has trailing characters ' 3'");
  BOOST_TEST(problem_of<std::uint32_t>("0x10") == "has trailing characters 'x10'");
  BOOST_TEST(problem_of<double>(" 1") == "is not a number"); // blanks are the caller's to trim
  BOOST_TEST(problem_of<double>("abc") == "is not a number");
  BOOST_TEST(problem_of<std::int32_t>("label") == "is not a number");
  BOOST_TEST(problem_of<double>("") == "is empty");
  BOOST_TEST(problem_of<double>("+") == "is not a number");
  BOOST_TEST(problem_of<double>("+-1") == "is not a number");
  BOOST_TEST(problem_of<std::int32_t>("++1") == "is not a number");
}

BOOST_AUTO_TEST_CASE(infinities_and_nan_are_rejected) {
  BOOST_TEST(problem_of<double>("inf") == "is not finite");
  BOOST_TEST(problem_of<float>("-inf") == "is not finite");
  BOOST_TEST(problem_of<double>("nan") == "is not finite");
  BOOST_TEST(problem_of<std::int32_t>("inf") == "is not finite");
}

BOOST_AUTO_TEST_SUITE_END()
