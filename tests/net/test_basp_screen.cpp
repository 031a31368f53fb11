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

/// A frame whose payload `write` serializes (node ids, stages, a message: as the operation
/// needs), with `source_actor` in the header.
template <class Write>
frame raw_frame(caf::actor_system& sys, caf::io::basp::message_type operation, Write write) {
  frame f;
  caf::binary_serializer payload{sys, f.payload};
  write(payload);
  caf::io::basp::header h{operation, 0, static_cast<std::uint32_t>(f.payload.size()), 0, 1, 2};
  caf::binary_serializer header{sys, f.header};
  BOOST_REQUIRE(!header(h));
  return f;
}

/// A node of process `pid` on a host whose id repeats `digit`.
caf::node_id node(std::uint32_t pid, char digit) {
  return *caf::make_node_id(pid, std::string(40, digit));
}

/// `f` through `screen` with the connection's two ends known.
bool admitted_between(caf::actor_system& sys, basp_screen& screen, const frame& f,
                      const basp_endpoints& ends) {
  caf::scoped_execution_unit ctx{&sys};
  if (!screen.admit(&ctx, nullptr, f.header.data(), f.header.size(), &ends))
    return false;
  return screen.admit(&ctx, nullptr, f.payload.data(), f.payload.size(), &ends);
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

BOOST_FIXTURE_TEST_SUITE(senders_and_sizes, testing::system_fixture)

using caf::io::basp::message_type;

// CAF's broker takes the source node of a routed message from its payload: one that claims
// this process's node reaches a local actor as a message from the local actor of that id.
BOOST_AUTO_TEST_CASE(a_routed_message_must_come_from_the_peers_node_to_this_one) {
  const basp_endpoints ends{node(1, 'a'), node(2, 'b')};
  auto routed = [&](const caf::node_id& from, const caf::node_id& to) {
    return raw_frame(*sys, message_type::routed_message, [&](caf::binary_serializer& out) {
      std::vector<caf::strong_actor_ptr> stages;
      auto content = caf::make_message(push_atom::value, gradient_push{});
      auto source = from;
      auto destination = to;
      BOOST_REQUIRE(!out(source, destination, stages, content));
    });
  };
  basp_screen honest;
  BOOST_TEST(admitted_between(*sys, honest, routed(ends.peer, ends.self), ends));
  for (const auto& [from, to] :
       {std::pair{ends.self, ends.self}, std::pair{node(3, 'c'), ends.self},
        std::pair{ends.peer, node(3, 'c')}}) {
    basp_screen screen;
    BOOST_TEST(!admitted_between(*sys, screen, routed(from, to), ends));
    BOOST_TEST((screen.refusal() == screen_refusal::forged_sender));
  }
}

BOOST_AUTO_TEST_CASE(
    no_message_before_the_peers_handshake_and_none_from_a_peer_claiming_this_node) {
  const auto f = basp_frame(*sys, message_type::direct_message,
                            caf::make_message(push_atom::value, gradient_push{}));
  for (const auto& peer : {caf::node_id{}, node(1, 'a')}) {
    basp_screen screen;
    BOOST_TEST(!admitted_between(*sys, screen, f, basp_endpoints{node(1, 'a'), peer}));
    BOOST_TEST((screen.refusal() == screen_refusal::forged_sender));
  }
  auto hello = [&](caf::node_id claimed) {
    return raw_frame(*sys, message_type::client_handshake,
                     [&](caf::binary_serializer& out) { BOOST_REQUIRE(!out(claimed)); });
  };
  const basp_endpoints before_handshake{node(1, 'a'), caf::node_id{}};
  basp_screen honest, impostor;
  BOOST_TEST(admitted_between(*sys, honest, hello(node(2, 'b')), before_handshake));
  BOOST_TEST(!admitted_between(*sys, impostor, hello(node(1, 'a')), before_handshake));
}

BOOST_AUTO_TEST_CASE(atoms_only_this_process_sends_are_refused_from_the_network) {
  const basp_endpoints ends{node(1, 'a'), node(2, 'b')};
  using tick_atom = caf::atom_constant<caf::atom("tick")>;
  for (const auto& content :
       {caf::make_message(tick_atom::value), caf::make_message(stop_atom::value),
        // behind a long type list: decoded, then checked
        caf::make_message(stop_atom::value, std::vector<std::string>{})}) {
    basp_screen screen;
    BOOST_TEST(!admitted_between(*sys, screen,
                                 basp_frame(*sys, message_type::direct_message, content), ends));
    BOOST_TEST((screen.refusal() == screen_refusal::local_only));
  }
  basp_screen screen;
  BOOST_TEST(admitted_between(
      *sys, screen,
      basp_frame(*sys, message_type::direct_message, caf::make_message(leave_atom::value, 3u)),
      ends));
}

// CAF hands a message whose content fails to decode to its receiver as whatever part it read;
// the screen cannot check that part's first atom, so a connection does not pass it.
BOOST_AUTO_TEST_CASE(a_message_whose_content_fails_to_decode_does_not_pass_a_connection) {
  auto f = basp_frame(*sys, message_type::direct_message,
                      caf::make_message(std::vector<std::string>{"a", "b"}));
  f.payload.resize(f.payload.size() - 1); // the last string is one byte short
  const auto length = static_cast<std::uint32_t>(f.payload.size());
  for (int i = 0; i < 4; ++i)
    f.header[4 + i] = static_cast<char>(length >> (8 * (3 - i)));
  basp_screen screen;
  BOOST_TEST(!admitted_between(*sys, screen, f, basp_endpoints{node(1, 'a'), node(2, 'b')}));
  BOOST_TEST((screen.refusal() == screen_refusal::undecodable));
}

BOOST_AUTO_TEST_CASE(a_header_announcing_more_than_the_limit_is_refused_before_its_payload) {
  const auto f = basp_frame(*sys, message_type::direct_message,
                            caf::make_message(push_atom::value, gradient_push{}));
  caf::scoped_execution_unit ctx{sys.get()};
  basp_screen at_limit, below;
  at_limit.limit_payload(f.payload.size());
  BOOST_TEST(admitted(*sys, at_limit, f));
  below.limit_payload(f.payload.size() - 1);
  BOOST_TEST(!below.admit(&ctx, nullptr, f.header.data(), f.header.size()));
  BOOST_TEST((below.refusal() == screen_refusal::oversized));
  BOOST_TEST(below.announced() == f.payload.size());
}

BOOST_AUTO_TEST_SUITE_END()
