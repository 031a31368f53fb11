// The screen in front of CAF's BASP broker (net/transport/basp_screen.hpp): frames as CAF writes
// them, checked as the broker reads them. dsq's own messages pass without being decoded twice; one
// that CAF 0.17's decoder throws on does not pass; anything else is decoded first.
#define BOOST_TEST_MODULE basp_screen
#include <boost/test/unit_test.hpp>

#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/transport/basp_screen.hpp"
#include "tests/net/forged_config_value.hpp"
#include "tests/support/actor_system_fixture.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/scoped_execution_unit.hpp>

#include <string>
#include <vector>

using namespace dsq;

namespace {

/// One BASP frame: its header and its payload, as CAF's broker writes them.
struct frame {
  std::vector<char> header, payload;
};

frame basp_frame(caf::actor_system& sys, caf::io::basp::message_type operation,
                 const caf::message& content) {
  frame f;
  caf::binary_serializer payload{sys, f.payload};
  std::vector<caf::strong_actor_ptr> stages;
  auto copy = content;
  BOOST_REQUIRE(!payload(stages, copy));
  caf::io::basp::header h{operation, 0, static_cast<std::uint32_t>(f.payload.size()), 0, 1, 2};
  caf::binary_serializer header{sys, f.header};
  BOOST_REQUIRE(!header(h));
  BOOST_REQUIRE_EQUAL(f.header.size(), caf::io::basp::header_size);
  return f;
}

/// Both parts of `f` through `screen`, as the broker asks for them; the payload's verdict.
bool admitted(caf::actor_system& sys, basp_screen& screen, const frame& f) {
  caf::scoped_execution_unit ctx{&sys};
  BOOST_REQUIRE(screen.admit(&ctx, nullptr, f.header.data(), f.header.size())); // headers pass
  return screen.admit(&ctx, nullptr, f.payload.data(), f.payload.size());
}

/// An actor system that can write the forged element (registered under CAF's built-in name).
struct forger {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  forger() {
    cfg.add_message_type<testing::forged_config_value>("@config_value");
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(basp_screen_tests, testing::system_fixture)

BOOST_AUTO_TEST_CASE(pushes_and_updates_pass_without_being_decoded_twice) {
  basp_screen screen;
  gradient_push push;
  push.payload.assign(1000, 7); // a payload length above 255: all four bytes of it are read
  model_update update;
  update.payload.assign(70000, 1);
  for (const auto& content :
       {caf::make_message(push_atom::value, push), caf::make_message(update_atom::value, update),
        caf::make_message(probe_atom::value, std::uint64_t{3})})
    BOOST_TEST(admitted(*sys, screen,
                        basp_frame(*sys, caf::io::basp::message_type::direct_message, content)));
  BOOST_TEST(screen.trials() == 0u);
}

BOOST_AUTO_TEST_CASE(a_message_caf_cannot_decode_is_refused) {
  forger bad;
  for (const auto& content :
       {caf::make_message(testing::forged_config_value{}),
        // behind a long string: the payload's length needs more than its lowest byte
        caf::make_message(std::string(1000, 'x'), testing::forged_config_value{})}) {
    const auto f = basp_frame(*bad.sys, caf::io::basp::message_type::direct_message, content);
    // The premise: CAF's own decoder throws on it, which would end its BASP broker.
    caf::scoped_execution_unit ctx{sys.get()};
    caf::binary_deserializer source{&ctx, f.payload};
    std::vector<caf::strong_actor_ptr> stages;
    caf::message decoded;
    BOOST_CHECK_THROW(static_cast<void>(source(stages, decoded)), std::exception);
    basp_screen screen;
    BOOST_TEST(!admitted(*sys, screen, f));
    BOOST_TEST(screen.trials() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(other_types_are_decoded_first_and_pass_when_they_decode) {
  basp_screen screen;
  const auto f = basp_frame(*sys, caf::io::basp::message_type::direct_message,
                            caf::make_message(std::vector<std::string>{"a", "b"}));
  BOOST_TEST(admitted(*sys, screen, f));
  BOOST_TEST(screen.trials() == 1u);
  // A frame after it is read as a new header, then its payload.
  BOOST_TEST(admitted(*sys, screen,
                      basp_frame(*sys, caf::io::basp::message_type::direct_message,
                                 caf::make_message(ack_atom::value, std::uint64_t{1}))));
  BOOST_TEST(screen.trials() == 1u);
}

BOOST_AUTO_TEST_CASE(type_lists) {
  BOOST_TEST(names_only_safe_types("@<>"));
  BOOST_TEST(names_only_safe_types("@<>+@atom+dsq::gradient_push"));
  BOOST_TEST(names_only_safe_types("@<>+@atom+@u64+@str+@actor"));
  BOOST_TEST(!names_only_safe_types("@<>+@atom+@config_value"));
  BOOST_TEST(!names_only_safe_types("@<>+@message"));
  BOOST_TEST(!names_only_safe_types("@<>+@error"));
  BOOST_TEST(!names_only_safe_types("@<>+"));
  BOOST_TEST(!names_only_safe_types("dsq::gradient_push"));
  BOOST_TEST(!names_only_safe_types(""));
}

BOOST_AUTO_TEST_SUITE_END()
