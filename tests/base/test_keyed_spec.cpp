#include <boost/test/unit_test.hpp>

#include "base/keyed_spec.hpp"
#include <dsq/spec_args.hpp>
#include <dsq/spec_error.hpp>

#include <cstdint>
#include <string>
#include <vector>

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

BOOST_AUTO_TEST_CASE(a_colon_with_nothing_after_it_is_the_name_alone) {
  dsq::keyed_spec s("sign: ", "compressor");
  BOOST_TEST(s.name() == "sign");
  BOOST_CHECK_NO_THROW(s.reject_unknown({}));
}

BOOST_AUTO_TEST_CASE(errors_are_spec_errors_that_quote_the_spec_and_name_the_problem) {
  const auto message = [](auto action) -> std::string {
    try {
      action();
    } catch (const dsq::spec_error& e) {
      return e.what();
    }
    return "(no spec_error)";
  };
  BOOST_TEST(message([] { dsq::keyed_spec("", "compressor"); }) ==
             "compressor spec '': empty compressor name");
  BOOST_TEST(message([] { dsq::keyed_spec("topk:k", "compressor"); }) ==
             "compressor spec 'topk:k': parameter 'k' of 'topk' has no '=value'");
  BOOST_TEST(message([] { dsq::keyed_spec("m:a=1,a=2", "model"); }) ==
             "model spec 'm:a=1,a=2': parameter 'a' given twice");
  const dsq::keyed_spec s("m:lr=1e999,n=1e20,l=4,x", "schedule");
  BOOST_TEST(message([&] { s.require("q"); }) == "schedule spec 'm:lr=1e999,n=1e20,l=4,x': 'm' "
                                                 "needs parameter 'q'");
  BOOST_TEST(message([&] {
               s.take_double("lr");
             }).ends_with("value '1e999' of parameter 'lr' is out of range for a 64-bit float"));
  BOOST_TEST(
      message([&] {
        s.take_unsigned("n");
      }).ends_with("value '1e20' of parameter 'n' is out of range for an unsigned 64-bit integer"));
  BOOST_TEST(
      message([&] {
        s.take_unsigned_list("l");
      }).ends_with("parameter 'l' is not a list of non-negative integers: 'x' is not a number"));
  BOOST_TEST(message([&] {
               s.reject_unknown({"lr"});
             }).ends_with("unknown parameters 'n', 'l' for 'm' (known: lr)"));
  BOOST_TEST(s.require("lr") == "1e999");
}

BOOST_AUTO_TEST_SUITE_END()

// spec_args, the face of keyed_spec that registered factories see: what a factory never read
// is refused after it returns.
BOOST_AUTO_TEST_SUITE(spec_args)

BOOST_AUTO_TEST_CASE(reads_values_and_refuses_the_unread) {
  const dsq::spec_args args{"mine:k=3,scale=0.5,hidden=8,4,tpyo=1", "compressor"};
  BOOST_TEST(args.name() == "mine");
  BOOST_TEST(args.count("k") == 3u);
  BOOST_TEST(args.number("scale") == 0.5);
  BOOST_TEST(args.number("absent", 2.5) == 2.5);
  BOOST_TEST(args.count("absent", 7) == 7u);
  BOOST_TEST((args.counts("hidden", {}) == std::vector<std::uint64_t>{8, 4}));
  BOOST_TEST(!args.has("other"));
  std::string what;
  try {
    args.reject_unread();
  } catch (const dsq::spec_error& e) {
    what = e.what();
  }
  BOOST_TEST(what == "compressor spec 'mine:k=3,scale=0.5,hidden=8,4,tpyo=1': unknown parameter "
                     "'tpyo' for 'mine' (it reads: absent, hidden, k, other, scale)");
  BOOST_TEST(args.text_of("tpyo").value() == "1");
  BOOST_CHECK_NO_THROW(args.reject_unread());
}

BOOST_AUTO_TEST_CASE(a_missing_or_bad_value_names_the_key) {
  const dsq::spec_args args{"mine:k=x", "model"};
  BOOST_CHECK_THROW(args.count("k"), dsq::spec_error);
  BOOST_CHECK_THROW(args.number("s"), dsq::spec_error);
  BOOST_TEST(args.error("k too big") == "model spec 'mine:k=x': k too big");
}

BOOST_AUTO_TEST_SUITE_END()
