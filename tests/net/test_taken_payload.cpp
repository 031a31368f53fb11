// net/protocol/taken_payload.hpp: a sent push's payload comes back to the worker without a copy
// when the worker's handle is the message's only holder, and is left alone otherwise; a dropped
// update's message gives its payload back to the server the same way.
#define BOOST_TEST_MODULE taken_payload
#include <boost/test/unit_test.hpp>

#include "net/protocol/taken_payload.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <vector>

using namespace dsq;

namespace {

caf::message push_of(std::size_t bytes) {
  gradient_push p;
  p.step = 3;
  p.payload.assign(bytes, 0x5a);
  return caf::make_message(push_atom::value, std::move(p));
}

} // namespace

BOOST_AUTO_TEST_CASE(the_only_holder_gets_the_payload_buffer_itself) {
  auto sent = push_of(1000);
  const auto* buffer = sent.get_as<gradient_push>(1).payload.data();
  const auto taken = take_push_payload(sent);
  BOOST_TEST(taken.size() == 1000u);
  BOOST_TEST(taken.data() == buffer); // moved, not copied
  BOOST_TEST(sent.get_as<gradient_push>(1).payload.empty());
}

BOOST_AUTO_TEST_CASE(a_message_with_another_holder_keeps_its_payload) {
  auto sent = push_of(1000);
  const caf::message held = sent; // as a mailbox or a transport not done with it holds it
  const auto* buffer = held.get_as<gradient_push>(1).payload.data();
  BOOST_TEST(take_push_payload(sent).empty());
  // Neither handle was unshared (which would have copied the payload) nor emptied.
  BOOST_TEST(sent.get_as<gradient_push>(1).payload.data() == buffer);
  BOOST_TEST(held.get_as<gradient_push>(1).payload.size() == 1000u);
}

BOOST_AUTO_TEST_CASE(other_messages_give_nothing) {
  caf::message none;
  BOOST_TEST(take_push_payload(none).empty());
  model_update u;
  u.payload.assign(10, 1);
  auto update = caf::make_message(update_atom::value, std::move(u));
  BOOST_TEST(take_push_payload(update).empty());
  BOOST_TEST(update.get_as<model_update>(1).payload.size() == 10u);
}

BOOST_AUTO_TEST_CASE(a_dropped_update_gives_its_payload_to_its_only_holder) {
  model_update u;
  u.version = 4;
  u.payload.assign(1000, 0x3c);
  auto kept = caf::make_message(update_atom::value, std::move(u));
  const auto* buffer = kept.get_as<model_update>(1).payload.data();
  {
    const caf::message held = kept; // a recipient's mailbox still holds it
    BOOST_TEST(take_update_payload(kept).empty());
    BOOST_TEST(held.get_as<model_update>(1).payload.data() == buffer); // not unshared
    BOOST_TEST(kept.get_as<model_update>(1).payload.size() == 1000u);
  }
  const auto taken = take_update_payload(kept);
  BOOST_TEST(taken.size() == 1000u);
  BOOST_TEST(taken.data() == buffer); // moved, not copied
  auto push = push_of(10);
  BOOST_TEST(take_update_payload(push).empty());
  BOOST_TEST(push.get_as<gradient_push>(1).payload.size() == 10u);
}
