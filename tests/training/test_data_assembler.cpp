// A worker's copy of the server's training set, chunk by chunk (training/data_assembler.hpp),
// against a fake server that answers each request from a data set in memory the way the server
// core does: the data set comes back bit for bit; corrupt, truncated, oversized, unasked-for and
// misplaced chunks are refused, copies ignored, reordered ones placed where they belong.
#define BOOST_TEST_MODULE data_assembler
#include <boost/test/unit_test.hpp>

#include "model/data_identity.hpp"
#include "model/dataset_bytes.hpp"
#include "model/synthetic.hpp"
#include "training/data_assembler.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <string>

using namespace dsq;

namespace {

/// A training set of about 60 KB: 15 chunks of the smallest size.
train_test small_data() {
  synthetic_options o;
  o.train_size = 300;
  o.test_size = 10;
  o.dimension = 49;
  o.num_classes = 4;
  return make_synthetic(o, 11);
}

/// Answers requests as server_core::data_requested does.
struct fake_server {
  const dataset& train;
  std::uint64_t fingerprint;

  data_chunk answer(const data_request& r) const {
    const auto total =
        dataset_bytes_size(static_cast<std::uint64_t>(train.dimension()), train.size());
    data_chunk c;
    c.fingerprint = fingerprint;
    c.index = r.index;
    c.offset = r.index * r.chunk_bytes;
    c.total = total;
    c.bytes.resize(std::min<std::uint64_t>(r.chunk_bytes, total - c.offset));
    copy_dataset_bytes(train, c.offset, c.bytes);
    return c;
  }
};

struct rig {
  train_test data = small_data();
  data_identity id = identify_data("synthetic:n=300", data);
  fake_server server{data.train, id.train_fingerprint};
  data_assembler assembler{id, data_chunk_min};
  std::deque<data_request> asked;

  void ask() {
    while (auto r = assembler.next_request())
      asked.push_back(*r);
  }
  data_chunk next_chunk() {
    auto c = server.answer(asked.front());
    asked.pop_front();
    return c;
  }
};

std::string refusal(data_assembler& a, const data_chunk& c) {
  try {
    a.offer(c);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

bool same(const dataset& a, const dataset& b) {
  return a.num_classes == b.num_classes && a.labels == b.labels &&
         a.features.rows() == b.features.rows() && a.features.cols() == b.features.cols() &&
         std::equal(a.features.data(), a.features.data() + a.features.size(), b.features.data());
}

} // namespace

BOOST_AUTO_TEST_CASE(the_layout_reads_back_bit_for_bit_from_any_ranges) {
  const auto data = small_data();
  const auto total = dataset_bytes_size(49, 300);
  BOOST_TEST(total == 32u + 4u * 49u * 300u + 4u * 300u);
  std::vector<std::uint8_t> bytes(total);
  // Ranges that begin and end inside words and regions.
  for (std::uint64_t at = 0; at < total;) {
    const auto n = std::min<std::uint64_t>(total - at, 1 + at % 997);
    copy_dataset_bytes(data.train, at, std::span<std::uint8_t>{bytes.data() + at, n});
    at += n;
  }
  BOOST_TEST(std::string(bytes.begin(), bytes.begin() + 8) == "DSQDATA1");
  BOOST_TEST(bytes[8] == 49); // features, little-endian
  const auto back = read_dataset_bytes(bytes);
  BOOST_TEST(same(back, data.train));
  BOOST_TEST(data_fingerprint(back) == data_fingerprint(data.train));
  std::vector<std::uint8_t> one(1);
  BOOST_CHECK_THROW(copy_dataset_bytes(data.train, total, one), std::out_of_range);
  bytes.pop_back();
  BOOST_CHECK_THROW(read_dataset_bytes(bytes), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(the_whole_training_set_arrives_through_a_bounded_window) {
  rig r;
  BOOST_TEST(r.assembler.chunk_count() == (r.assembler.total_bytes() + 4095) / 4096);
  r.ask();
  BOOST_TEST(r.asked.size() == data_window); // never more than the window ahead
  while (!r.assembler.complete()) {
    BOOST_REQUIRE(!r.asked.empty());
    BOOST_CHECK(r.assembler.offer(r.next_chunk()) == data_assembler::outcome::taken);
    r.ask();
    BOOST_TEST(r.asked.size() <= data_window);
  }
  BOOST_TEST(r.asked.empty());
  BOOST_TEST(r.assembler.received_bytes() == r.assembler.total_bytes());
  BOOST_TEST(same(r.assembler.take(), r.data.train));
}

BOOST_AUTO_TEST_CASE(reordered_chunks_go_where_they_belong_and_copies_are_ignored) {
  rig r;
  r.ask();
  std::vector<data_chunk> window;
  while (!r.asked.empty())
    window.push_back(r.next_chunk());
  std::reverse(window.begin(), window.end());
  for (const auto& c : window)
    BOOST_CHECK(r.assembler.offer(c) == data_assembler::outcome::taken);
  BOOST_CHECK(r.assembler.offer(window[0]) == data_assembler::outcome::duplicate);
  BOOST_TEST(r.assembler.received_bytes() == 4u * data_chunk_min);
  for (r.ask(); !r.assembler.complete(); r.ask())
    r.assembler.offer(r.next_chunk());
  BOOST_TEST(same(r.assembler.take(), r.data.train));
}

BOOST_AUTO_TEST_CASE(chunks_that_do_not_fit_the_announcement_are_refused) {
  rig r;
  r.ask();
  const auto good = r.server.answer(r.asked[1]);

  auto oversized = good;
  oversized.bytes.push_back(0);
  BOOST_TEST(refusal(r.assembler, oversized).find("chunk 1 of 4097 bytes, not 4096") !=
             std::string::npos);
  auto truncated = good;
  truncated.bytes.resize(100);
  BOOST_TEST(refusal(r.assembler, truncated).find("chunk 1 of 100 bytes") != std::string::npos);
  auto misplaced = good; // a gap or an overlap
  misplaced.offset += 8;
  BOOST_TEST(refusal(r.assembler, misplaced).find("chunk 1 at offset 4104, not 4096") !=
             std::string::npos);
  auto unasked = r.server.answer(data_request{r.id.train_fingerprint, 7, data_chunk_min, 0});
  BOOST_TEST(refusal(r.assembler, unasked).find("chunk 7, not asked for") != std::string::npos);
  auto other_set = good;
  other_set.fingerprint ^= 1;
  BOOST_TEST(refusal(r.assembler, other_set).find("a chunk of data set") != std::string::npos);
  auto other_size = good;
  other_size.total += 4;
  BOOST_TEST(refusal(r.assembler, other_size)
                 .find("not " + std::to_string(r.assembler.total_bytes()) +
                       " bytes as announced") != std::string::npos);
  BOOST_TEST(r.assembler.received_bytes() == 0u); // nothing refused was kept
  BOOST_CHECK(r.assembler.offer(good) == data_assembler::outcome::taken);
}

BOOST_AUTO_TEST_CASE(corrupt_bytes_are_found_by_the_fingerprint_before_training) {
  rig r;
  bool corrupted = false;
  for (r.ask(); !r.assembler.complete(); r.ask()) {
    auto c = r.next_chunk();
    if (c.index == 5 && !corrupted) {
      c.bytes[1000] ^= 0x10; // one bit of one feature
      corrupted = true;
    }
    r.assembler.offer(c);
  }
  try {
    r.assembler.take();
    BOOST_FAIL("a corrupt training set was taken");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string{e.what()}.find("fingerprint") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(memory_is_capped_at_what_was_asked_and_announced) {
  rig r;
  // A server announcing more than the worker takes is refused before anything is held.
  BOOST_CHECK_THROW((data_assembler{r.id, data_chunk_min, 1000}), std::runtime_error);
  auto huge = r.id;
  huge.train_samples = std::uint64_t{1} << 50;
  BOOST_CHECK_THROW((data_assembler{huge, data_chunk_min}), std::runtime_error);
  // The chunk size a worker asks for stays within the bounds, and below its message limit.
  BOOST_TEST(data_chunk_size(0) == data_chunk_max);
  BOOST_TEST(data_chunk_size(100 * 1024) == 50u * 1024u);
  BOOST_TEST(data_chunk_size(1000) == data_chunk_min);
}
