// Operators a program registers by name (include/dsq/operator.hpp): they compute what their math
// says through the error-feedback wrapper and the wire format, their messages are framed and
// checked like the built-ins', and every mistake (in a registration, a spec or a message) is
// refused with an error that names it.

#include "allocation_probe.hpp"
#include "compression/error_feedback.hpp"
#include "compression/make_compressor.hpp"
#include "compression/operator_registry.hpp"
#include "compression/wire.hpp"
#include "test_support.hpp"
#include "user_operators.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <thread>

using namespace dsq;
using namespace dsq::test;

namespace {

struct registered {
  registered() { register_test_operators(); }
};

std::vector<std::uint8_t> encode(const std::string& spec, std::size_t d, std::uint64_t seed = 1) {
  rng_engine rng{seed};
  return to_bytes(make_compressor(spec)->compress(normal_vector(d, seed), rng));
}

/// The message of the decode_error that `bytes` must raise (empty if none is raised).
std::string refusal(std::span<const std::uint8_t> bytes) {
  try {
    from_bytes(bytes);
  } catch (const decode_error& e) {
    return e.what();
  }
  return {};
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void put_u32(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
  std::memcpy(bytes.data() + offset, &value, 4); // the format is little-endian, so is the host
}

// Header of a custom message (docs/compression.md): endianness flag, magic, version, op, u32 dim,
// u16 spec length, spec, u32 payload length, payload.
constexpr std::size_t op_offset = 3, spec_length_offset = 8, spec_offset = 10;

std::size_t payload_length_offset(const std::string& spec) {
  return spec_offset + spec.size();
}

const std::vector<std::string> user_specs = {"scaled_sign", "scaled_sign:gain=2", "round8",
                                             "round8:levels=3", "plain"};

} // namespace

BOOST_FIXTURE_TEST_SUITE(custom_operator, registered)

// --- the math, by hand --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(scaled_sign_with_error_feedback_is_the_residual_update_by_hand) {
  const std::size_t d = 37;
  const auto op = make_compressor("scaled_sign:gain=1.5");
  error_feedback ef{d};
  std::vector<float> residual(d, 0.0f); // δ, by hand
  rng_engine rng{3};
  for (std::uint64_t t = 0; t < 20; ++t) {
    const auto g = normal_vector(d, 100 + t);
    // By hand: v = g + δ; c = 1.5 (‖v‖₁ / d) sign(v); δ ← v − c.
    std::vector<float> v(d), c(d);
    double l1 = 0;
    for (std::size_t j = 0; j < d; ++j) {
      v[j] = residual[j] + g[j];
      l1 += std::fabs(v[j]);
    }
    const float scale = 1.5f * static_cast<float>(l1 / d);
    for (std::size_t j = 0; j < d; ++j) {
      c[j] = v[j] < 0 ? -scale : scale;
      residual[j] = v[j] - c[j];
    }
    // Through the runtime: the wrapper, the wire format and back.
    const auto sent = from_bytes(to_bytes(ef.compress(*op, g, rng)));
    BOOST_TEST((sent.op == operator_id::custom));
    BOOST_TEST(sent.spec == "scaled_sign:gain=1.5");
    const auto received = decoded(sent);
    BOOST_TEST(received == c, boost::test_tools::per_element());
    const std::vector<float> kept(ef.residual().begin(), ef.residual().end());
    BOOST_TEST(kept == residual, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(round8_draws_and_decodes_as_its_definition_says) {
  const std::size_t d = 50;
  const auto v = normal_vector(d, 7);
  rng_engine rng{11}, hand_rng{11};
  const auto m = from_bytes(to_bytes(make_compressor("round8:levels=3")->compress(v, rng)));
  const float low = *std::min_element(v.begin(), v.end());
  const float step = (*std::max_element(v.begin(), v.end()) - low) / 3.0f;
  std::vector<float> expected(d);
  for (std::size_t j = 0; j < d; ++j) {
    const float x = (v[j] - low) / step;
    float level = std::floor(x);
    if (uniform01(hand_rng) < x - level)
      level += 1;
    level = std::clamp(level, 0.0f, 3.0f);
    expected[j] = low + level * step;
    // Rounded to a neighbour: never further than one step away.
    BOOST_TEST(std::fabs(expected[j] - v[j]) <= step * 1.0001f);
  }
  BOOST_TEST(decoded(m) == expected, boost::test_tools::per_element());
  BOOST_TEST((rng == hand_rng)); // the operator drew from the caller's engine, once per coordinate
  // add_scaled adds scale * C[v] to what is there.
  std::vector<float> out(d, 1.0f), sum(d);
  add_scaled(m, 0.5f, out);
  for (std::size_t j = 0; j < d; ++j)
    sum[j] = 1.0f + 0.5f * expected[j];
  BOOST_TEST(out == sum, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_plain_user_operator_is_the_identity_bit_for_bit) {
  const auto v = normal_vector(33, 5);
  rng_engine rng{1};
  const auto m = from_bytes(to_bytes(make_compressor("plain")->compress(v, rng)));
  BOOST_TEST(decoded(m) == v, boost::test_tools::per_element());
  BOOST_TEST(wire_size(m) == to_bytes(m).size());
  // 4 header bytes of its own (spec length and "plain") more than identity's.
  BOOST_TEST(wire_size(m) == encode("identity", 33).size() + 2 + 5);
}

// --- the declarations
// -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unbiasedness_is_what_the_operator_declares) {
  BOOST_TEST(make_compressor("round8")->unbiased());
  BOOST_TEST(make_compressor("plain")->unbiased());
  BOOST_TEST(!make_compressor("scaled_sign")->unbiased());
  BOOST_TEST(!make_compressor("scaled_sign:gain=2")->unbiased());
}

BOOST_AUTO_TEST_CASE(specs_are_canonical_and_survive_a_round_trip) {
  BOOST_TEST(make_compressor("scaled_sign: gain = 2")->spec() == "scaled_sign:gain=2");
  for (const auto& spec : user_specs)
    BOOST_TEST(make_compressor(make_compressor(spec)->spec())->spec() == spec);
}

// --- registration and spec errors
// -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(bad_built_in_and_repeated_names_are_refused) {
  const auto nothing = [](const spec_args&) { return std::make_unique<plain>(); };
  for (const std::string name : {"", "Mine", "my op", "mine:k", "mine.1", "é"})
    BOOST_TEST(contains(message_of([&] { register_operator(name, nothing); }),
                        "'" + name + "' is not an operator name"),
               name);
  for (const std::string name : {"identity", "fp16", "sign", "topk", "randomk", "qsgd"})
    BOOST_TEST(contains(message_of([&] { register_operator(name, nothing); }),
                        "'" + name + "' is a built-in operator"),
               name);
  BOOST_TEST(contains(message_of([&] { register_operator("plain", nothing); }),
                      "'plain' is already registered"));
  BOOST_TEST(contains(message_of([&] { register_operator("no_factory", {}); }), "empty"));
  BOOST_TEST(!is_registered_operator("no_factory"));
}

BOOST_AUTO_TEST_CASE(an_unknown_parameter_is_refused_naming_it) {
  const auto message = message_of([] { make_compressor("scaled_sign:tpyo=1"); });
  BOOST_TEST(contains(message, "'tpyo'"), message);
  BOOST_TEST(contains(message, "scaled_sign:tpyo=1"), message);
  BOOST_CHECK_THROW(make_compressor("scaled_sign:tpyo=1"), spec_error);
  // The factory's own checks reach the user as they wrote them.
  BOOST_TEST(contains(message_of([] { make_compressor("round8:levels=256"); }),
                      "levels must be in [1, 255]"));
}

BOOST_AUTO_TEST_CASE(an_unknown_name_lists_the_built_in_and_the_registered_operators) {
  const auto message = message_of([] { make_compressor("nobody:k=1"); });
  BOOST_TEST(contains(message, "unknown compressor 'nobody'"), message);
  BOOST_TEST(contains(message, "qsgd"), message);
  BOOST_TEST(contains(message, "registered: plain, round8, scaled_sign"), message);
}

BOOST_AUTO_TEST_CASE(a_spec_longer_than_its_message_may_carry_is_refused) {
  const std::string long_gain = "scaled_sign:gain=1." + std::string(300, '0');
  BOOST_TEST(contains(message_of([&] { make_compressor(long_gain); }), "longer than 256"));
}

// --- messages that lie
// ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_payload_that_lies_about_its_size_is_refused_naming_the_operator) {
  const std::string spec = "scaled_sign:gain=2";
  const std::size_t d = 37; // payload_bytes = 4 + 5
  const auto bytes = encode(spec, d);
  const std::size_t at = payload_length_offset(spec);
  std::uint32_t declared;
  std::memcpy(&declared, bytes.data() + at, 4);
  BOOST_TEST_REQUIRE(declared == 9u);
  BOOST_TEST_REQUIRE(bytes.size() == at + 4 + 9);
  for (const int change : {-1, 1, 100}) {
    // Longer or shorter, and the buffer as long as the lie says.
    auto lying = bytes;
    put_u32(lying, at, static_cast<std::uint32_t>(9 + change));
    lying.resize(bytes.size() + change);
    const auto message = refusal(lying);
    BOOST_TEST(contains(message, "operator 'scaled_sign:gain=2'"), message);
    BOOST_TEST(contains(message, "payload length " + std::to_string(9 + change)), message);
    BOOST_TEST(contains(message, "the 9 bytes"), message);
    BOOST_TEST(contains(message, "d = 37"), message);
  }
  // A dimension that does not fit the payload is the same lie, told the other way.
  auto wrong_d = bytes;
  put_u32(wrong_d, 4, 45);
  BOOST_TEST(contains(refusal(wrong_d), "the 10 bytes that operator 'scaled_sign:gain=2' with "
                                        "d = 45 implies"));
  // Truncations and trailing bytes, at every length.
  for (std::size_t size = 0; size < bytes.size(); ++size)
    BOOST_CHECK_THROW(from_bytes(std::span{bytes}.first(size)), decode_error);
  auto longer = bytes;
  longer.push_back(0);
  BOOST_CHECK_THROW(from_bytes(longer), decode_error);
}

BOOST_AUTO_TEST_CASE(an_operator_not_registered_here_is_refused_naming_it) {
  auto bytes = encode("plain", 8);
  std::memcpy(bytes.data() + spec_offset, "ghost", 5);
  const auto message = refusal(bytes);
  BOOST_TEST(contains(message, "operator 'ghost'"), message);
  BOOST_TEST(contains(message, "every process of the run"), message);
  BOOST_TEST(contains(message, "register_operator(\"ghost\""), message);
  // A registered name with parameters its factory refuses is refused the same way.
  auto bad_parameter = encode("round8:levels=3", 8);
  std::memcpy(bad_parameter.data() + spec_offset + 7, "tpyo_x", 6); // "round8:tpyo_x=3"
  BOOST_TEST(contains(refusal(bad_parameter), "'tpyo_x'"));
}

BOOST_AUTO_TEST_CASE(spec_lengths_and_characters_are_checked_before_anything_is_allocated) {
  auto bytes = encode("plain", 8);
  for (const std::uint16_t length : {0, 257, 0xffff}) {
    auto wrong = bytes;
    std::memcpy(wrong.data() + spec_length_offset, &length, 2);
    reset_allocation_probe();
    BOOST_TEST(contains(refusal(wrong), "operator spec of " + std::to_string(length) + " bytes"));
    BOOST_TEST(largest_allocation() < 4096u);
  }
  auto control = bytes;
  control[spec_offset + 2] = '\n';
  BOOST_TEST(contains(refusal(control), "not printable"));
  // A huge dimension is refused by the limit before the operator is even asked for its size.
  auto huge = bytes;
  put_u32(huge, 4, 0xffffffffu);
  reset_allocation_probe();
  BOOST_TEST(contains(refusal(huge), "above the limit"));
  BOOST_TEST(largest_allocation() < 4096u);
}

BOOST_AUTO_TEST_CASE(a_payload_its_operator_refuses_fails_decompress_naming_it) {
  // scaled_sign refuses sign bits past d: from_bytes checks sizes, the operator the content.
  auto bytes = encode("scaled_sign", 5);
  bytes.back() |= 0x80;
  const auto m = from_bytes(bytes);
  std::vector<float> out(5);
  const auto message = message_of([&] { decompress(m, out); });
  BOOST_TEST(contains(message, "operator 'scaled_sign' refused its payload"), message);
  BOOST_CHECK_THROW(add_scaled(m, 1.0f, out), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(built_in_messages_may_not_carry_a_spec_or_an_opaque_payload) {
  rng_engine rng{1};
  auto m = make_compressor("identity")->compress(normal_vector(4, 1), rng);
  auto with_spec = m;
  with_spec.spec = "plain";
  BOOST_CHECK_THROW(to_bytes(with_spec), std::invalid_argument);
  auto with_payload = m;
  with_payload.payload = {1, 2, 3};
  BOOST_CHECK_THROW(to_bytes(with_payload), std::invalid_argument);
  // And a built-in message relabelled as custom is refused, whatever its bytes then say.
  auto relabelled = encode("identity", 8);
  relabelled[op_offset] = static_cast<std::uint8_t>(operator_id::custom);
  BOOST_CHECK_THROW(from_bytes(relabelled), decode_error);
}

// --- the decoder under random damage (scripts/fuzz.sh fuzzes it for longer) ---------------------

BOOST_AUTO_TEST_CASE(corrupted_custom_messages_are_refused_or_decoded_cleanly) {
  rng_engine rng{99};
  for (const auto& spec : user_specs) {
    const auto valid = encode(spec, 21);
    for (int trial = 0; trial < 2000; ++trial) {
      auto damaged = valid;
      const int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f)
        damaged[rng() % damaged.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      compressed_message m;
      try {
        m = from_bytes(damaged);
      } catch (const decode_error&) {
        continue;
      }
      BOOST_TEST_REQUIRE(wire_size(m) == damaged.size());
      if (damaged[0] == 1) // Cereal's little-endian flag, as to_bytes writes it here
        BOOST_TEST_REQUIRE(to_bytes(m) == damaged);
      std::vector<float> out(m.dimension());
      try {
        decompress(m, out);
      } catch (const std::invalid_argument&) {
        BOOST_TEST_REQUIRE((m.op == operator_id::custom)); // only a user's decoder refuses here
      }
    }
  }
}

// --- many threads -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lookups_from_many_threads_decode_the_same_as_one) {
  std::vector<std::vector<std::uint8_t>> messages;
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < 16; ++i) {
    // Distinct specs, so that the threads also race to build and cache operators.
    const auto bytes = encode("scaled_sign:gain=" + std::to_string(3 + i), 40, i);
    messages.push_back(bytes);
    expected.push_back(decoded(from_bytes(bytes)));
  }
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round)
        for (std::size_t i = 0; i < messages.size(); ++i)
          if (decoded(from_bytes(messages[i])) != expected[i])
            ++wrong[t];
    });
  for (auto& thread : threads)
    thread.join();
  BOOST_TEST(wrong == std::vector<int>(4, 0), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
