#include "compression/make_compressor.hpp"
#include <dsq/spec_error.hpp>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace dsq;
namespace bdata = boost::unit_test::data;

namespace {

// The spec_error's text for `spec`, or "" if it was accepted.
std::string error_of(const std::string& spec) {
  try {
    make_compressor(spec);
  } catch (const spec_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(make_compressor_suite)

BOOST_DATA_TEST_CASE(canonical_specs_survive_a_round_trip,
                     bdata::make({"identity", "fp16", "sign", "sign:block=4096", "topk:k=0.01",
                                  "topk:k=1000", "randomk:k=0.01", "randomk:k=0.01,unbiased=1",
                                  "randomk:k=0.5,unbiased=1,shared_seed=1",
                                  "randomk:k=7,shared_seed=1", "qsgd:s=16", "qsgd:s=1"}),
                     spec) {
  BOOST_TEST(make_compressor(spec)->spec() == spec);
}

BOOST_AUTO_TEST_CASE(defaults_spaces_and_flag_spellings_normalise_to_the_canonical_spec) {
  BOOST_TEST(make_compressor(" topk : k = 0.25 ")->spec() == "topk:k=0.25");
  BOOST_TEST(make_compressor("randomk:shared_seed=true,k=5,unbiased=0")->spec() ==
             "randomk:k=5,shared_seed=1");
  BOOST_TEST(make_compressor("topk:k=1e3")->spec() == "topk:k=1000");
  BOOST_TEST(make_compressor("sign:")->spec() == "sign");
}

BOOST_AUTO_TEST_CASE(an_unknown_operator_is_named_with_the_spec_and_the_known_ones) {
  const auto text = error_of("topq:k=3");
  BOOST_TEST(contains(text, "unknown compressor 'topq'"), text);
  BOOST_TEST(contains(text, "'topq:k=3'"), text);
  BOOST_TEST(contains(text, "known: identity, fp16, sign, topk, randomk, qsgd"), text);
  BOOST_TEST(contains(error_of(""), "empty compressor name"));
}

BOOST_AUTO_TEST_CASE(an_unknown_parameter_is_named) {
  BOOST_TEST(contains(error_of("topk:k=3,foo=1"), "unknown parameter 'foo' for 'topk'"));
  BOOST_TEST(contains(error_of("identity:block=3"), "unknown parameter 'block'"));
  BOOST_TEST(contains(error_of("qsgd:s=4,k=2"), "unknown parameter 'k'"));
  BOOST_TEST(contains(error_of("topk:k=3,k=4"), "given twice"));
  BOOST_TEST(contains(error_of("topk:k"), "no '=value'"));
}

BOOST_DATA_TEST_CASE(bad_values_are_rejected_with_the_parameter_named,
                     bdata::make({"topk:k=0", "topk:k=-0.5", "topk:k=abc", "topk:k=1.5", "topk:k=",
                                  "topk:k=nan", "randomk:k=0", "randomk:k=0.1,unbiased=2",
                                  "randomk:k=0.1,shared_seed=yes", "qsgd:s=0", "qsgd:s=1.5",
                                  "qsgd:s=70000", "qsgd:s=-3", "sign:block=0", "sign:block=4k"}),
                     spec) {
  const auto text = error_of(spec);
  BOOST_TEST(!text.empty(), spec << " was accepted");
  const std::string key = std::string{spec}.substr(std::string{spec}.rfind(',') == std::string::npos
                                                       ? std::string{spec}.find(':') + 1
                                                       : std::string{spec}.rfind(',') + 1);
  BOOST_TEST(contains(text, "'" + key.substr(0, key.find('=')) + "'"), text);
  BOOST_TEST(contains(text, std::string{"'"} + spec + "'"), text);
}

BOOST_AUTO_TEST_CASE(missing_required_parameters_are_reported) {
  BOOST_TEST(contains(error_of("topk"), "'topk' needs parameter 'k'"));
  BOOST_TEST(contains(error_of("randomk:unbiased=1"), "'randomk' needs parameter 'k'"));
  BOOST_TEST(contains(error_of("qsgd"), "'qsgd' needs parameter 's'"));
}

BOOST_AUTO_TEST_CASE(spec_error_is_an_invalid_argument) {
  BOOST_CHECK_THROW(make_compressor("nope"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
