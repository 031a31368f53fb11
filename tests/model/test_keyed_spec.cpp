#include <boost/test/unit_test.hpp>

#include "model/keyed_spec.hpp"

BOOST_AUTO_TEST_SUITE(keyed_spec)

BOOST_AUTO_TEST_CASE(name_alone_has_no_options) {
  dsq::keyed_spec s("mnist", "data set");
  BOOST_TEST(s.name() == "mnist");
  BOOST_TEST(!s.take("dir").has_value());
}

BOOST_AUTO_TEST_CASE(pieces_without_a_key_continue_the_previous_list) {
  dsq::keyed_spec s("mlp:hidden=256,128, 64,l2=1e-4", "model");
  BOOST_TEST(s.take("hidden").value() == "256,128,64");
  BOOST_TEST(s.take_unsigned_list("hidden").value() == (std::vector<std::uint64_t>{256, 128, 64}),
             boost::test_tools::per_element());
  BOOST_TEST(s.take_double("l2").value() == 1e-4);
}

BOOST_AUTO_TEST_CASE(only_the_first_colon_separates_the_name) {
  dsq::keyed_spec s("csv:path=C:/data/x.csv", "data set");
  BOOST_TEST(s.take("path").value() == "C:/data/x.csv");
}

BOOST_AUTO_TEST_CASE(malformed_specs_are_rejected) {
  BOOST_CHECK_THROW(dsq::keyed_spec(":a=1", "model"), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::keyed_spec("m:5", "model"), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::keyed_spec("m:=5", "model"), std::invalid_argument);
  BOOST_CHECK_THROW(dsq::keyed_spec("m:a=1,a=2", "model"), std::invalid_argument);
  dsq::keyed_spec s("m:a=x,b=-1", "model");
  BOOST_CHECK_THROW(s.take_double("a"), std::invalid_argument);
  BOOST_CHECK_THROW(s.take_unsigned("b"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(unknown_options_are_named) {
  dsq::keyed_spec s("m:alpha=1,beta=2", "model");
  try {
    s.reject_unknown({"alpha"});
    BOOST_ERROR("beta accepted");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("beta") != std::string::npos, what);
    BOOST_TEST(what.find("known: alpha") != std::string::npos, what);
  }
  BOOST_CHECK_NO_THROW(s.reject_unknown({"alpha", "beta"}));
}

BOOST_AUTO_TEST_SUITE_END()
