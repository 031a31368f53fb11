// dsq's messages through CAF's binary serialization, as they cross the network: every float and
// double comes back bit for bit, whatever its value. CAF 0.17's own float encoding (pack754)
// loops for ever on an infinity, turns NaN into 1 and garbles subnormal numbers.
#define BOOST_TEST_MODULE messages
#include <boost/test/unit_test.hpp>

#include "net/protocol/messages.hpp"
#include "tests/support/actor_system_fixture.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using namespace dsq;

namespace {

/// `x` after a trip through CAF's binary serializer and deserializer.
template <class T>
T round_trip(caf::actor_system& sys, T& x) {
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  BOOST_REQUIRE(!sink(x));
  T back;
  caf::binary_deserializer source{sys, bytes};
  BOOST_REQUIRE(!source(back));
  BOOST_TEST(source.remaining() == 0u);
  return back;
}

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Values pack754 gets wrong or never finishes, and ordinary ones.
std::vector<float> awkward_floats() {
  using lim = std::numeric_limits<float>;
  return {lim::infinity(),
          -lim::infinity(),
          lim::quiet_NaN(),
          -lim::quiet_NaN(),
          lim::denorm_min(),
          -lim::denorm_min(),
          1e-40f,
          lim::min(),
          lim::max(),
          -0.0f,
          0.0f,
          1.0f,
          -2.5f,
          0.1f,
          3.0e38f,
          std::bit_cast<float>(0x7fa00001u)};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(messages, testing::system_fixture)

BOOST_AUTO_TEST_CASE(a_push_carries_any_loss_bit_for_bit) {
  for (float loss : awkward_floats()) {
    gradient_push p;
    p.worker_id = 3;
    p.step = 17;
    p.loss = loss;
    p.payload = {1, 2, 3};
    p.has_state = true;
    p.state.residual = awkward_floats();
    auto back = round_trip(*sys, p);
    BOOST_TEST(same_bits(back.loss, loss), "loss " << loss << " came back as " << back.loss);
    BOOST_TEST(same_bits(back.state.residual, p.state.residual));
    BOOST_TEST(back.payload == p.payload);
    BOOST_TEST(back.step == 17u);
  }
}

BOOST_AUTO_TEST_CASE(a_welcome_carries_the_model_and_the_configuration_bit_for_bit) {
  welcome w;
  w.model = awkward_floats();
  for (int i = 0; i < 100000; ++i) // more than one chunk of the bounded read
    w.model.push_back(static_cast<float>(i) * 1e-3f);
  w.momentum = awkward_floats();
  w.config.lr = std::numeric_limits<double>::denorm_min();
  w.config.momentum = -0.0;
  w.config.epochs = 2.5;
  w.config.target_accuracy = 0.1;
  w.config.max_push_norm = std::numeric_limits<double>::max();
  w.config.worker_timeout_s = 1e-310;
  auto back = round_trip(*sys, w);
  BOOST_TEST(same_bits(back.model, w.model));
  BOOST_TEST(same_bits(back.momentum, w.momentum));
  for (auto [a, b] : {std::pair{back.config.lr, w.config.lr},
                      {back.config.momentum, w.config.momentum},
                      {back.config.epochs, w.config.epochs},
                      {back.config.target_accuracy, w.config.target_accuracy},
                      {back.config.max_push_norm, w.config.max_push_norm},
                      {back.config.worker_timeout_s, w.config.worker_timeout_s}})
    BOOST_TEST(same_bits(a, b), a << " came back as " << b);
}

BOOST_AUTO_TEST_CASE(a_welcome_carries_the_data_identity) {
  welcome w;
  w.data.spec = "csv:path=points.csv,label=first";
  w.data.train_fingerprint = 0xfedcba9876543210ULL;
  w.data.test_fingerprint = 1;
  w.data.train_samples = 72;
  w.data.test_samples = 18;
  w.data.features = 3;
  w.data.classes = 3;
  auto back = round_trip(*sys, w);
  BOOST_TEST((back.data == w.data));
}

BOOST_AUTO_TEST_CASE(a_data_request_and_a_data_chunk_come_back_whole) {
  data_request r{0x0123456789abcdefULL, 41, data_chunk_max, 38};
  auto r_back = round_trip(*sys, r);
  BOOST_TEST(r_back.fingerprint == r.fingerprint);
  BOOST_TEST(r_back.index == 41u);
  BOOST_TEST(r_back.chunk_bytes == data_chunk_max);
  BOOST_TEST(r_back.received == 38u);

  data_chunk c{r.fingerprint, 41, 41ULL * data_chunk_max, 188'160'032, {}};
  c.bytes.resize(data_chunk_max);
  for (std::size_t i = 0; i < c.bytes.size(); ++i)
    c.bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
  auto c_back = round_trip(*sys, c);
  BOOST_TEST(c_back.fingerprint == c.fingerprint);
  BOOST_TEST(c_back.index == 41u);
  BOOST_TEST(c_back.offset == c.offset);
  BOOST_TEST(c_back.total == c.total);
  BOOST_TEST((c_back.bytes == c.bytes));
}

// A chunk announcing more bytes than follow fails once they run out, having allocated one
// bounded piece, not the announced size (bounded_bytes.hpp).
BOOST_AUTO_TEST_CASE(a_data_chunk_announcing_more_than_it_carries_is_refused) {
  data_chunk c{1, 0, 0, 100, std::vector<std::uint8_t>(100, 0x5a)};
  std::vector<char> bytes;
  caf::binary_serializer sink{*sys, bytes};
  BOOST_REQUIRE(!sink(c));
  bytes.resize(bytes.size() - 50);
  data_chunk back;
  caf::binary_deserializer source{*sys, bytes};
  BOOST_TEST(static_cast<bool>(source(back)));
}

// A vector that announces far more floats than the bytes that follow fails once the bytes run
// out, having allocated a chunk, not the announced size.
BOOST_AUTO_TEST_CASE(a_float_vector_announcing_more_than_it_carries_is_refused) {
  gradient_push p;
  p.has_state = true;
  p.state.residual = std::vector<float>(1000, 1.0f);
  std::vector<char> bytes;
  caf::binary_serializer sink{*sys, bytes};
  BOOST_REQUIRE(!sink(p));
  bytes.resize(bytes.size() - 2000); // the residual's second half, and what follows, are lost
  gradient_push back;
  caf::binary_deserializer source{*sys, bytes};
  BOOST_TEST(static_cast<bool>(source(back)));
}

// A worker's state carries its data source's state words exactly; more than max_state_words are
// refused by the receiver before it reads them.
BOOST_AUTO_TEST_CASE(a_workers_sampler_state_words_travel_and_more_than_64_are_refused) {
  gradient_push p;
  p.has_state = true;
  p.state.rng = {1, 2, 3, 4};
  for (std::uint64_t i = 0; i < max_state_words; ++i)
    p.state.sampler_state.push_back(~i * 0x9e3779b97f4a7c15ULL);
  auto back = round_trip(*sys, p);
  BOOST_TEST((back.state == p.state));

  p.state.sampler_state.push_back(7);
  std::vector<char> bytes;
  caf::binary_serializer sink{*sys, bytes};
  BOOST_REQUIRE(!sink(p));
  gradient_push refused;
  caf::binary_deserializer source{*sys, bytes};
  BOOST_TEST(static_cast<bool>(source(refused)));
}

BOOST_AUTO_TEST_SUITE_END()
