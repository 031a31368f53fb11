// dsq's messages through CAF's binary serialization, as they cross the network: every float and
// double comes back bit for bit, whatever its value. CAF 0.17's own float encoding (pack754)
// loops for ever on an infinity, turns NaN into 1 and garbles subnormal numbers.
#define BOOST_TEST_MODULE messages
#include <boost/test/unit_test.hpp>

#include "net/protocol/messages.hpp"
#include "tests/support/actor_system_fixture.hpp"
#include "tests/support/same_bits.hpp"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using namespace dsq;
using dsq::testing::same_bits;

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

// Sharded runs (training/shard/shard_messages.hpp): the shard fields of the worker-facing
// messages and every message between shards come back whole, floats bit for bit.
BOOST_AUTO_TEST_CASE(the_shard_fields_and_the_messages_between_shards_come_back_whole) {
  welcome w;
  w.from_shard = 2;
  w.shards.ranges = {{0, 10}, {10, 20}, {20, 25}};
  w.shards.endpoints = {"", "10.0.0.2:4243", "host-3:4244"};
  auto w_back = round_trip(*sys, w);
  BOOST_TEST(w_back.from_shard == 2u);
  BOOST_TEST((w_back.shards.ranges == w.shards.ranges));
  BOOST_TEST((w_back.shards.endpoints == w.shards.endpoints));
  BOOST_TEST(w_back.shards.count() == 3u);

  gradient_push p;
  p.shard = 3;
  p.payload = {9, 8, 7};
  BOOST_TEST(round_trip(*sys, p).shard == 3u);
  model_update u{41, {1, 2}, 1};
  auto u_back = round_trip(*sys, u);
  BOOST_TEST(u_back.shard == 1u);
  BOOST_TEST(u_back.version == 41u);
  BOOST_TEST((u_back.payload == u.payload));

  shard_join j{1, 4, protocol_version, "127.0.0.1:5000"};
  auto j_back = round_trip(*sys, j);
  BOOST_TEST(j_back.shard == 1u);
  BOOST_TEST(j_back.shards == 4u);
  BOOST_TEST(j_back.endpoint == j.endpoint);

  shard_setup s;
  s.config.lr = std::numeric_limits<double>::denorm_min();
  s.config.compressor = "sign";
  s.ranges = w.shards.ranges;
  s.version = 5;
  s.total_steps = 100;
  s.slice = awkward_floats();
  s.momentum = awkward_floats();
  s.config.aggregate = "median";
  s.aggregate = "krum:f=2";
  auto s_back = round_trip(*sys, s);
  // run_config's inspection leaves --aggregate out (the server's own); shard_setup carries it.
  BOOST_TEST(s_back.config.aggregate == "mean");
  BOOST_TEST(s_back.aggregate == "krum:f=2");
  BOOST_TEST(same_bits(s_back.config.lr, s.config.lr));
  BOOST_TEST(s_back.config.compressor == "sign");
  BOOST_TEST((s_back.ranges == s.ranges));
  BOOST_TEST(s_back.version == 5u);
  BOOST_TEST(s_back.total_steps == 100u);
  BOOST_TEST(same_bits(s_back.slice, s.slice));
  BOOST_TEST(same_bits(s_back.momentum, s.momentum));

  slice_held h{2, 7, 99};
  auto h_back = round_trip(*sys, h);
  BOOST_TEST((h_back.shard == 2u && h_back.worker == 7u && h_back.key == 99u));
  slice_refused r{2, 7, 99, "norm above the bound"};
  auto r_back = round_trip(*sys, r);
  BOOST_TEST((r_back.shard == 2u && r_back.worker == 7u && r_back.key == 99u));
  BOOST_TEST(r_back.why == r.why);

  for (float weight : awkward_floats()) {
    round_commit c{12, weight, {3, 1, 2}, {40, 41, 39}, {2}};
    auto c_back = round_trip(*sys, c);
    BOOST_TEST(same_bits(c_back.weight, weight));
    BOOST_TEST(c_back.version == 12u);
    BOOST_TEST((c_back.workers == c.workers));
    BOOST_TEST((c_back.keys == c.keys));
    BOOST_TEST((c_back.chosen == c.chosen));
  }

  member_change m{4, 17, true};
  auto m_back = round_trip(*sys, m);
  BOOST_TEST((m_back.worker == 4u && m_back.version == 17u && m_back.joined));
  shard_end e{true, "worker 3 sent a bad push"};
  auto e_back = round_trip(*sys, e);
  BOOST_TEST(e_back.failed);
  BOOST_TEST(e_back.why == e.why);
  shard_report rep{3, 1000, 2000, 30};
  auto rep_back = round_trip(*sys, rep);
  BOOST_TEST((rep_back.shard == 3u && rep_back.bytes_in == 1000u && rep_back.bytes_out == 2000u &&
              rep_back.updates == 30u));

  // Checkpoints of a sharded run.
  s.resume = true;
  s.resume_digest = 0xdeadbeef;
  auto resumed_back = round_trip(*sys, s);
  BOOST_TEST(resumed_back.resume);
  BOOST_TEST(resumed_back.resume_digest == 0xdeadbeefu);
  slice_save save{150, 100};
  auto save_back = round_trip(*sys, save);
  BOOST_TEST((save_back.version == 150u && save_back.keep == 100u));
  slice_saved saved{2, 150, 0x12345678, "No space left on device"};
  auto saved_back = round_trip(*sys, saved);
  BOOST_TEST(
      (saved_back.shard == 2u && saved_back.version == 150u && saved_back.digest == 0x12345678u));
  BOOST_TEST(saved_back.failure == saved.failure);
  slice_traffic t{2, std::uint64_t{1} << 40, 123456, 7890}; // protocol 10
  auto t_back = round_trip(*sys, t);
  BOOST_TEST((t_back.shard == 2u && t_back.version == (std::uint64_t{1} << 40) &&
              t_back.bytes_in == 123456u && t_back.bytes_out == 7890u));
}

// Krum with K > 1 (protocol 10): the distance query and its answer come back whole, the
// distances bit for bit (infinities, NaN, subnormals and the largest double included); an
// answer announcing more distances than the most seats allow is refused before it is read.
BOOST_AUTO_TEST_CASE(a_distance_query_and_its_answer_come_back_whole) {
  distance_query q{9, {0, 3, 4}, {8, 8, 7}};
  auto q_back = round_trip(*sys, q);
  BOOST_TEST(q_back.version == 9u);
  BOOST_TEST((q_back.workers == q.workers));
  BOOST_TEST((q_back.keys == q.keys));
  distance_reply r;
  r.shard = 2;
  r.version = 9;
  r.distances = {0.0,
                 -0.0,
                 1e-310,
                 std::numeric_limits<double>::max(),
                 std::numeric_limits<double>::infinity(),
                 std::numeric_limits<double>::quiet_NaN(),
                 0.1 + 0.2};
  r.refused = "shard 2 refused it";
  auto r_back = round_trip(*sys, r);
  BOOST_TEST((r_back.shard == 2u && r_back.version == 9u && r_back.refused == r.refused));
  BOOST_REQUIRE(r_back.distances.size() == r.distances.size());
  for (std::size_t i = 0; i < r.distances.size(); ++i)
    BOOST_TEST(same_bits(r_back.distances[i], r.distances[i]), "distance " << i);

  distance_reply big;
  big.distances.resize(max_wire_distances + 1, 1.0);
  std::vector<char> bytes;
  caf::binary_serializer sink{*sys, bytes};
  BOOST_REQUIRE(!sink(big));
  distance_reply back;
  caf::binary_deserializer source{*sys, bytes};
  BOOST_TEST(static_cast<bool>(source(back)));
}

// A shard map or a commit announcing more entries than any run has is refused before it is read.
BOOST_AUTO_TEST_CASE(a_shard_map_or_a_commit_longer_than_the_cap_is_refused) {
  welcome w;
  w.shards.ranges.resize(max_wire_shards + 1, key_range{0, 1});
  std::vector<char> bytes;
  caf::binary_serializer sink{*sys, bytes};
  BOOST_REQUIRE(!sink(w));
  welcome back;
  caf::binary_deserializer source{*sys, bytes};
  BOOST_TEST(static_cast<bool>(source(back)));

  round_commit c;
  c.workers.resize(max_wire_round_pushes + 1, 1);
  std::vector<char> cbytes;
  caf::binary_serializer csink{*sys, cbytes};
  BOOST_REQUIRE(!csink(c));
  round_commit cback;
  caf::binary_deserializer csource{*sys, cbytes};
  BOOST_TEST(static_cast<bool>(csource(cback)));
}

BOOST_AUTO_TEST_SUITE_END()
