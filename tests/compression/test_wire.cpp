// The wire format: sizes, and a decoder that rejects every malformed input with decode_error
// instead of crashing or allocating what the bytes do not justify.

#include "allocation_probe.hpp"
#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstring>

using namespace dsq;
using namespace dsq::test;
namespace bdata = boost::unit_test::data;

namespace {

std::vector<std::uint8_t> encode(const std::string& spec, std::size_t d, std::uint64_t seed = 1) {
  rng_engine rng{seed};
  return to_bytes(make_compressor(spec)->compress(normal_vector(d, seed), rng));
}

// Either decode_error, or a message that decompresses without complaint: the two outcomes a
// decoder may have on arbitrary bytes.
bool rejects_or_decodes_cleanly(std::span<const std::uint8_t> bytes, decode_limits limits = {}) {
  compressed_message m;
  try {
    m = from_bytes(bytes, limits);
  } catch (const decode_error&) {
    return true;
  }
  std::vector<float> out(m.dimension());
  decompress(m, out);
  return true;
}

void put_u32(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
  std::memcpy(bytes.data() + offset, &value, 4); // the format is little-endian, so is the host
}

// Offsets within the header (see docs/compression.md): byte 0 is Cereal's endianness flag.
constexpr std::size_t magic_offset = 1, version_offset = 2, op_offset = 3, dim_offset = 4;
constexpr std::size_t parameter_offset = 8;

} // namespace

BOOST_AUTO_TEST_SUITE(wire)

// --- sizes -------------------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(wire_size_is_what_to_bytes_produces,
                     bdata::make(all_specs()) * bdata::make({0, 1, 7, 63, 64, 65, 4097}), spec, d) {
  rng_engine rng{2};
  const auto m = make_compressor(spec)->compress(normal_vector(d, 2), rng);
  BOOST_TEST(wire_size(m) == to_bytes(m).size());
}

BOOST_AUTO_TEST_CASE(sizes_are_what_each_operator_promises) {
  constexpr std::size_t d = 100000;
  const auto size = [](const std::string& spec) {
    rng_engine rng{1};
    return wire_size(make_compressor(spec)->compress(normal_vector(d, 1), rng));
  };
  // 12-byte header: endianness, magic, version, op, u32 dim, u32 payload length.
  BOOST_TEST(size("identity") == 12 + 4 * d);
  BOOST_TEST(size("fp16") == 12 + 2 * d);
  // One bit per coordinate plus one float scale per block, after a u32 block parameter.
  BOOST_TEST(size("sign") == 16 + 4 + d / 8);
  BOOST_TEST(size("sign:block=4096") == 16 + 4 * 25 + d / 8);
  // k (32-bit index + 32-bit value), after a u32 k.
  BOOST_TEST(size("topk:k=0.01") == 16 + 8 * 1000);
  BOOST_TEST(size("randomk:k=0.01") == 17 + 8 * 1000);
  // 64-bit seed instead of the indices: 64 + 32k bits.
  BOOST_TEST(size("randomk:k=0.01,shared_seed=1") == 17 + 8 + 4 * 1000);
  // Norm plus (1 + ceil(log2(s+1))) bits per coordinate: s = 16 needs 5 level bits.
  BOOST_TEST(size("qsgd:s=16") == 16 + 4 + d * 6 / 8);
  BOOST_TEST(size("qsgd:s=1") == 16 + 4 + d * 2 / 8);
}

BOOST_AUTO_TEST_CASE(sign_costs_about_one_bit_per_coordinate) {
  const double per_coordinate = double(encode("sign", 1000000).size()) / 1000000;
  BOOST_TEST(per_coordinate < 1.0 / 8 + 1e-4);
}

// --- malformed input ---------------------------------------------------------------------------

BOOST_DATA_TEST_CASE(every_truncation_of_a_valid_message_is_rejected,
                     bdata::make(all_specs()) * bdata::make({1, 7, 65}), spec, d) {
  const auto bytes = encode(spec, d);
  BOOST_TEST_REQUIRE(from_bytes(bytes).dimension() == std::size_t(d));
  for (std::size_t length = 0; length < bytes.size(); ++length)
    BOOST_CHECK_THROW(from_bytes(std::span{bytes}.first(length)), decode_error);
}

BOOST_DATA_TEST_CASE(trailing_bytes_are_rejected, bdata::make(all_specs()), spec) {
  auto bytes = encode(spec, 7);
  bytes.push_back(0);
  BOOST_CHECK_THROW(from_bytes(bytes), decode_error);
}

BOOST_AUTO_TEST_CASE(random_bytes_are_rejected_or_decoded_cleanly) {
  rng_engine rng{12345};
  int rejected = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<std::uint8_t> bytes(uniform_below(rng, 80));
    for (auto& b : bytes)
      b = static_cast<std::uint8_t>(rng());
    if (trial % 2 == 0 && bytes.size() >= 4) { // a valid prefix gets further into the decoder
      bytes[0] = 1;
      bytes[magic_offset] = 0xd5;
      bytes[version_offset] = 1;
      bytes[op_offset] = static_cast<std::uint8_t>(uniform_below(rng, 7));
    }
    BOOST_TEST_REQUIRE(rejects_or_decodes_cleanly(bytes, {.max_dimension = 1u << 16}));
    try {
      from_bytes(bytes, {.max_dimension = 1u << 16});
    } catch (const decode_error&) {
      ++rejected;
    }
  }
  BOOST_TEST(rejected > 19000); // random bytes are almost never a message
}

BOOST_DATA_TEST_CASE(single_byte_corruptions_are_rejected_or_decoded_cleanly,
                     bdata::make(all_specs()), spec) {
  const auto valid = encode(spec, 33);
  for (std::size_t i = 0; i < valid.size(); ++i) {
    for (const std::uint8_t x : {0x01, 0x80, 0xff}) {
      auto bytes = valid;
      bytes[i] ^= x;
      BOOST_TEST_REQUIRE(rejects_or_decodes_cleanly(bytes));
    }
  }
}

// Each thread codes through one stream it keeps (wire.cpp): a call that failed halfway must leave
// nothing behind for the next one.
BOOST_AUTO_TEST_CASE(a_rejected_message_leaves_the_next_decode_and_encode_unaffected) {
  rng_engine rng{3};
  const auto m = make_compressor("sign")->compress(normal_vector(100, 3), rng);
  const auto valid = to_bytes(m);
  for (std::size_t cut = 0; cut < valid.size(); ++cut) {
    const std::vector<std::uint8_t> truncated(valid.begin(), valid.begin() + cut);
    BOOST_CHECK_THROW(from_bytes(truncated), decode_error);
    const auto again = from_bytes(valid);
    BOOST_REQUIRE(again.bits == m.bits);
    BOOST_REQUIRE(again.values == m.values);
    BOOST_REQUIRE(to_bytes(again) == valid);
  }
}

BOOST_AUTO_TEST_CASE(dimensions_above_the_limit_are_rejected_before_allocating) {
  auto bytes = encode("identity", 16);
  BOOST_TEST(from_bytes(bytes, {.max_dimension = 16}).dimension() == 16u);
  BOOST_CHECK_THROW(from_bytes(bytes, {.max_dimension = 15}), decode_error);

  for (const std::string spec : {"identity", "sign", "qsgd:s=16", "topk:k=3"}) {
    for (const std::uint32_t dim : {(1u << 28) + 1, 0xffffffffu}) {
      auto huge = encode(spec, 16);
      put_u32(huge, dim_offset, dim);
      reset_allocation_probe();
      BOOST_CHECK_THROW(from_bytes(huge), decode_error);
      if (spec == "topk:k=3") {
        // Three entries of a huge vector is a fine message once the limit admits it, and it
        // costs no more memory than its 3 entries.
        BOOST_TEST(from_bytes(huge, {.max_dimension = 0xffffffffu}).dimension() == dim);
      } else {
        // A dense payload sized for d = 16 cannot describe a huge d, however high the limit.
        BOOST_CHECK_THROW(from_bytes(huge, {.max_dimension = 0xffffffffu}), decode_error);
      }
      BOOST_TEST(largest_allocation() < 4096u, spec << " dim " << dim);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_seeded_randomk_claiming_a_huge_dimension_allocates_nothing_large) {
  // Shared seed, k = 0: no payload at all, so only the limit stands between the header and a
  // huge dimension. The decoder itself must still allocate nothing.
  rng_engine rng{1};
  auto m = make_compressor("randomk:k=1,shared_seed=1")->compress(normal_vector(1, 1), rng);
  m.k = 0;
  m.values.clear();
  m.dim = (1u << 28) + 1;
  const auto bytes = to_bytes(m);
  reset_allocation_probe();
  BOOST_CHECK_THROW(from_bytes(bytes), decode_error);
  m.dim = 1u << 28;
  const auto at_limit = to_bytes(m);
  BOOST_TEST(from_bytes(at_limit).dimension() == std::size_t{1} << 28);
  BOOST_TEST(largest_allocation() < 4096u);
}

BOOST_AUTO_TEST_CASE(a_payload_length_that_disagrees_with_the_header_is_rejected) {
  // The payload length follows the parameters: none, one u32, or u32 k + u8 flag (+ u64 seed).
  const std::vector<std::pair<std::string, std::size_t>> cases = {
      {"identity", 8},
      {"fp16", 8},
      {"sign", 12},
      {"qsgd:s=16", 12},
      {"topk:k=3", 12},
      {"randomk:k=3", 13},
      {"randomk:k=3,shared_seed=1", 21}};
  for (const auto& [spec, length_offset] : cases) {
    auto bytes = encode(spec, 40);
    std::uint32_t declared;
    std::memcpy(&declared, bytes.data() + length_offset, 4);
    BOOST_TEST_REQUIRE(declared == bytes.size() - length_offset - 4);
    for (const std::int64_t change : {-1, 1, 4}) {
      auto wrong = bytes;
      put_u32(wrong, length_offset, static_cast<std::uint32_t>(declared + change));
      BOOST_CHECK_THROW(from_bytes(wrong), decode_error);
      // Also when the buffer really is as long as the wrong length says.
      wrong.resize(static_cast<std::size_t>(static_cast<std::int64_t>(bytes.size()) + change));
      BOOST_CHECK_THROW(from_bytes(wrong), decode_error);
    }
  }
}

BOOST_AUTO_TEST_CASE(out_of_range_and_unordered_indices_are_rejected) {
  // topk with d = 10, k = 3: header 8 bytes, u32 k, u32 payload length, then three indices.
  const std::vector<float> v = {0, 5, 0, 0, 6, 0, 0, 0, 0, 7};
  rng_engine rng{0};
  const auto valid = to_bytes(make_compressor("topk:k=3")->compress(v, rng));
  constexpr std::size_t first_index = 16;
  BOOST_TEST_REQUIRE(from_bytes(valid).indices == (std::vector<std::uint32_t>{1, 4, 9}),
                     boost::test_tools::per_element());
  auto out_of_range = valid;
  put_u32(out_of_range, first_index + 8, 10);
  BOOST_CHECK_THROW(from_bytes(out_of_range), decode_error);
  auto huge_index = valid;
  put_u32(huge_index, first_index + 8, 0xffffffffu);
  BOOST_CHECK_THROW(from_bytes(huge_index), decode_error);
  auto repeated = valid;
  put_u32(repeated, first_index + 4, 1);
  BOOST_CHECK_THROW(from_bytes(repeated), decode_error);
  auto descending = valid;
  put_u32(descending, first_index, 5);
  BOOST_CHECK_THROW(from_bytes(descending), decode_error);
  auto k_above_d = valid;
  put_u32(k_above_d, parameter_offset, 11);
  BOOST_CHECK_THROW(from_bytes(k_above_d), decode_error);
}

BOOST_DATA_TEST_CASE(every_other_operator_id_is_rejected, bdata::make(all_specs()), spec) {
  const auto valid = encode(spec, 33);
  const std::uint8_t own = valid[op_offset];
  for (unsigned id = 0; id < 256; ++id) {
    if (id == own)
      continue;
    auto flipped = valid;
    flipped[op_offset] = static_cast<std::uint8_t>(id);
    BOOST_CHECK_THROW(from_bytes(flipped), decode_error);
  }
}

BOOST_AUTO_TEST_CASE(bad_magic_version_and_endianness_bytes_are_rejected) {
  const auto valid = encode("sign", 10);
  for (const std::size_t offset : {std::size_t{0}, magic_offset, version_offset}) {
    auto bad = valid;
    bad[offset] = 7;
    BOOST_CHECK_THROW(from_bytes(bad), decode_error);
  }
}

BOOST_AUTO_TEST_CASE(qsgd_levels_above_s_and_nonzero_padding_are_rejected) {
  // qsgd s = 2: 2 level bits + 1 sign bit per coordinate; d = 2 leaves 2 padding bits in the
  // single byte of the bit stream, which is the last byte of the message.
  const std::vector<float> v = {3, 4};
  rng_engine rng{0};
  const auto valid = to_bytes(make_compressor("qsgd:s=2")->compress(v, rng));
  BOOST_TEST_REQUIRE(from_bytes(valid).dimension() == 2u);
  auto level_three = valid;
  level_three.back() = static_cast<std::uint8_t>((level_three.back() & ~0x3u) | 0x3u);
  BOOST_CHECK_THROW(from_bytes(level_three), decode_error);
  auto padding = valid;
  padding.back() |= 0x80;
  BOOST_CHECK_THROW(from_bytes(padding), decode_error);

  const auto sign_bytes = encode("sign", 3);
  auto sign_padding = sign_bytes;
  sign_padding.back() |= 0x80;
  BOOST_CHECK_THROW(from_bytes(sign_padding), decode_error);
}

BOOST_AUTO_TEST_CASE(bad_parameters_are_rejected) {
  auto zero_levels = encode("qsgd:s=16", 8);
  put_u32(zero_levels, parameter_offset, 0);
  BOOST_CHECK_THROW(from_bytes(zero_levels), decode_error);
  auto bad_flag = encode("randomk:k=2", 8);
  bad_flag[parameter_offset + 4] = 2;
  BOOST_CHECK_THROW(from_bytes(bad_flag), decode_error);
}

BOOST_AUTO_TEST_CASE(non_finite_values_round_trip_as_documented) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {1.0f, inf, -2.0f};
  rng_engine rng{0};
  const auto m = make_compressor("sign")->compress(v, rng);
  BOOST_TEST(std::isinf(from_bytes(to_bytes(m)).values[0]));
}

BOOST_AUTO_TEST_SUITE_END()
