#include "compression/wire.hpp"

#include "compression/detail/kernels.hpp"
#include "compression/operator_registry.hpp"
#include "compression/payload_layout.hpp"

#include <bit>
#include <istream>
#include <limits>
#include <ostream>
#include <streambuf>
#include <string>

#include <cereal/archives/portable_binary.hpp>
#include <fmt/format.h>

namespace dsq {

namespace {

// Byte layout, after the one byte Cereal's portable archive writes to say its endianness:
//   u8 magic, u8 version, u8 operator id, u32 dim,
//   parameters: sign u32 block | topk u32 k | randomk u32 k, u8 shared_seed, [u64 seed] | qsgd
//   u32 levels | custom u16 spec length, spec (printable ASCII, at most 256 bytes),
//   u32 payload length, payload (custom: the operator's payload_bytes(d) bytes, opaque).
constexpr std::uint8_t magic = 0xd5;
constexpr std::uint8_t format_version = 1;
constexpr std::size_t common_header_bytes = 1 + 1 + 1 + 1 + 4 + 4;

std::size_t parameter_bytes(const compressed_message& m) {
  switch (m.op) {
  case operator_id::sign:
  case operator_id::topk:
  case operator_id::qsgd:
    return 4;
  case operator_id::randomk:
    return 4 + 1 + (m.shared_seed ? 8 : 0);
  case operator_id::custom:
    return 2 + m.spec.size();
  default:
    return 0;
  }
}

// Bit streams live in 64-bit words in memory and as little-endian bytes on the wire, cut after
// the last byte that holds a bit. On little-endian hosts those are the words' first bytes.
void words_to_little_endian(std::span<std::uint64_t> words) {
  if constexpr (std::endian::native == std::endian::big) {
    for (auto& word : words) {
      std::uint64_t swapped = 0;
      for (int i = 0; i < 8; ++i)
        swapped |= ((word >> (8 * i)) & 0xffu) << (8 * (7 - i));
      word = swapped;
    }
  }
}

// A streambuf appending to a byte vector, so Cereal writes straight into the result.
class vector_sink : public std::streambuf {
public:
  explicit vector_sink(std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}

protected:
  std::streamsize xsputn(const char* data, std::streamsize count) override {
    // Same element type on both sides, so the insertion is a plain memmove.
    const auto* first = reinterpret_cast<const std::uint8_t*>(data);
    bytes_.insert(bytes_.end(), first, first + count);
    return count;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      bytes_.push_back(static_cast<std::uint8_t>(c));
    return traits_type::not_eof(c);
  }

private:
  std::vector<std::uint8_t>& bytes_;
};

// A read-only streambuf over the caller's bytes: no copy.
class span_source : public std::streambuf {
public:
  explicit span_source(std::span<const std::uint8_t> bytes) {
    // streambuf wants char*, but only ever reads through the get area here.
    auto* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(begin, begin, begin + bytes.size());
  }
};

// Constructing a stream costs more than coding a small message (std::basic_ios::init sets up its
// locale), and every push and update is coded once: each thread keeps one stream per direction
// and points it at the caller's buffer for the duration of one call.
template <class Stream>
class borrowed_stream {
public:
  explicit borrowed_stream(std::streambuf& buffer) : stream_(shared()) { stream_.rdbuf(&buffer); }
  ~borrowed_stream() { stream_.rdbuf(nullptr); }
  borrowed_stream(const borrowed_stream&) = delete;
  borrowed_stream& operator=(const borrowed_stream&) = delete;

  Stream& get() noexcept { return stream_; }

private:
  static Stream& shared() {
    thread_local Stream stream{nullptr};
    return stream;
  }

  Stream& stream_;
};

[[noreturn]] void reject(const std::string& problem) {
  throw decode_error("compressed message rejected: " + problem);
}

// How messages name their operator: a custom one by its spec, which says more than "custom".
std::string operator_name(const compressed_message& m) {
  return m.op == operator_id::custom ? fmt::format("operator '{}'", m.spec)
                                     : std::string{to_string(m.op)};
}

// Specs are read from the network and end up in error messages and logs: printable ASCII only.
bool printable(std::string_view text) {
  for (const char c : text)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

// Reads through Cereal, counting bytes itself so that every read is checked against what is left
// before anything is allocated for it.
class checked_reader {
public:
  explicit checked_reader(std::span<const std::uint8_t> bytes)
      : bytes_(bytes), source_(bytes), stream_(source_), archive_(open(bytes, stream_.get())) {
    consumed_ = 1;
  }

  std::size_t remaining() const noexcept { return bytes_.size() - consumed_; }

  void need(std::uint64_t count, const char* what) const {
    if (count > remaining())
      reject(fmt::format("truncated {}: needs {} more bytes, {} left", what, count, remaining()));
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T value;
    archive_(value);
    consumed_ += sizeof(T);
    return value;
  }

  template <class T>
  void read_array(std::span<T> out, const char* what) {
    read_bytes(out.data(), out.size_bytes(), sizeof(T), what);
  }

  /// Reads `count` bytes into raw storage, swapped per element of `element_size` if the sender's
  /// endianness differs (never for bit streams, whose element is the byte).
  void read_bytes(void* out, std::uint64_t count, std::size_t element_size, const char* what) {
    need(count, what);
    switch (element_size) {
    case 1:
      archive_(cereal::binary_data(static_cast<std::uint8_t*>(out), count));
      break;
    case 2:
      archive_(cereal::binary_data(static_cast<std::uint16_t*>(out), count));
      break;
    default:
      archive_(cereal::binary_data(static_cast<std::uint32_t*>(out), count));
      break;
    }
    consumed_ += count;
  }

private:
  static std::istream& open(std::span<const std::uint8_t> bytes, std::istream& stream) {
    // Cereal's archive reads its endianness byte on construction; check it exists and is one
    // of the two values Cereal writes before letting it.
    if (bytes.empty())
      reject("empty buffer");
    if (bytes[0] > 1)
      reject(fmt::format("bad endianness byte {}", bytes[0]));
    return stream;
  }

  std::span<const std::uint8_t> bytes_;
  span_source source_;
  borrowed_stream<std::istream> stream_;
  cereal::PortableBinaryInputArchive archive_;
  std::size_t consumed_ = 0;
};

bool padding_is_zero(const std::vector<std::uint64_t>& words, std::uint64_t bits) {
  if (bits % 64 == 0)
    return true;
  return (words.back() >> (bits % 64)) == 0;
}

void check_payload_content(const compressed_message& m, const payload_layout& layout) {
  if (!m.indices.empty()) {
    std::uint32_t previous = m.indices[0];
    if (previous >= m.dim)
      reject(fmt::format("index {} out of range for dimension {}", previous, m.dim));
    for (std::size_t i = 1; i < m.indices.size(); ++i) {
      // Strictly increasing and below dim: so every index is in range and none repeats.
      if (m.indices[i] <= previous)
        reject(fmt::format("indices not strictly increasing at position {}", i));
      previous = m.indices[i];
    }
    if (previous >= m.dim)
      reject(fmt::format("index {} out of range for dimension {}", previous, m.dim));
  }
  if (!padding_is_zero(m.bits, layout.bits))
    reject("nonzero padding bits after the bit stream");
  if (m.op == operator_id::qsgd) {
    const unsigned level_bits = qsgd_bits_per_coordinate(m.levels) - 1;
    // One pass of the level's kernel finds the largest level; only a message that fails looks
    // for the coordinate to name.
    if (detail::active_kernels().qsgd_max_level(m.bits.data(), m.dim, level_bits) <= m.levels)
      return;
    const std::uint64_t level_mask = (std::uint64_t{1} << level_bits) - 1;
    std::uint64_t position = 0;
    for (std::uint32_t j = 0; j < m.dim; ++j, position += level_bits + 1) {
      // A field spans at most two words (it is at most 17 bits).
      const std::size_t word = position / 64;
      const unsigned offset = position % 64;
      std::uint64_t field = m.bits[word] >> offset;
      if (offset + level_bits > 64)
        field |= m.bits[word + 1] << (64 - offset);
      if ((field & level_mask) > m.levels)
        reject(fmt::format("qsgd level {} above s = {} at coordinate {}", field & level_mask,
                           m.levels, j));
    }
  }
}

} // namespace

std::size_t wire_size(const compressed_message& m) {
  return common_header_bytes + parameter_bytes(m) + layout_of(m).wire_bytes();
}

std::vector<std::uint8_t> to_bytes(const compressed_message& m) {
  std::vector<std::uint8_t> bytes;
  to_bytes(m, bytes);
  return bytes;
}

void to_bytes(const compressed_message& m, std::vector<std::uint8_t>& bytes) {
  bytes.clear();
  const payload_layout layout = layout_of(m);
  if (m.values.size() != layout.values || m.indices.size() != layout.indices ||
      m.halves.size() != layout.halves || m.bits.size() != layout.bit_words() ||
      m.payload.size() != layout.bytes)
    throw std::invalid_argument("to_bytes: payload does not match the message's parameters");
  if (m.op == operator_id::custom && !printable(m.spec))
    throw std::invalid_argument("to_bytes: operator spec with a character that is not printable");
  const std::uint64_t payload = layout.wire_bytes();
  if (payload > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("to_bytes: payload above 4 GiB");

  bytes.reserve(wire_size(m));
  try {
    vector_sink sink{bytes};
    borrowed_stream<std::ostream> stream{sink}; // rdbuf() clears the state a failed call left
    cereal::PortableBinaryOutputArchive archive{stream.get()};
    archive(magic, format_version, static_cast<std::uint8_t>(m.op), m.dim);
    switch (m.op) {
    case operator_id::sign:
      archive(m.block);
      break;
    case operator_id::topk:
      archive(m.k);
      break;
    case operator_id::randomk:
      archive(m.k, static_cast<std::uint8_t>(m.shared_seed));
      if (m.shared_seed)
        archive(m.seed);
      break;
    case operator_id::qsgd:
      archive(m.levels);
      break;
    case operator_id::custom: // layout_of has checked its length
      archive(static_cast<std::uint16_t>(m.spec.size()));
      archive(cereal::binary_data(m.spec.data(), m.spec.size()));
      break;
    default:
      break;
    }
    archive(static_cast<std::uint32_t>(payload));
    // Indices first, so a reader can check them before it cares about values.
    archive(cereal::binary_data(m.indices.data(), m.indices.size() * sizeof(std::uint32_t)));
    archive(cereal::binary_data(m.values.data(), m.values.size() * sizeof(float)));
    archive(cereal::binary_data(m.halves.data(), m.halves.size() * sizeof(std::uint16_t)));
    if constexpr (std::endian::native == std::endian::little) {
      archive(cereal::binary_data(reinterpret_cast<const std::uint8_t*>(m.bits.data()),
                                  layout.bit_bytes()));
    } else {
      std::vector<std::uint64_t> words = m.bits;
      words_to_little_endian(words);
      archive(cereal::binary_data(reinterpret_cast<const std::uint8_t*>(words.data()),
                                  layout.bit_bytes()));
    }
    archive(cereal::binary_data(m.payload.data(), m.payload.size()));
  } catch (...) {
    bytes.clear();
    throw;
  }
}

compressed_message from_bytes(std::span<const std::uint8_t> bytes, const decode_limits& limits) {
  compressed_message m;
  from_bytes_into(bytes, m, limits);
  return m;
}

void from_bytes_into(std::span<const std::uint8_t> bytes, compressed_message& m,
                     const decode_limits& limits) {
  clear_keeping_capacity(m);
  try {
    checked_reader reader{bytes};
    if (reader.read<std::uint8_t>("header") != magic)
      reject("bad magic byte");
    if (const auto version = reader.read<std::uint8_t>("header"); version != format_version)
      reject(fmt::format("unsupported format version {}", version));
    const auto op = reader.read<std::uint8_t>("header");
    if (op >= operator_id_count)
      reject(fmt::format("unknown operator id {}", op));
    m.op = static_cast<operator_id>(op);
    m.dim = reader.read<std::uint32_t>("header");
    if (m.dim > limits.max_dimension)
      reject(fmt::format("dimension {} above the limit {}", m.dim, limits.max_dimension));
    switch (m.op) {
    case operator_id::sign:
      m.block = reader.read<std::uint32_t>("parameters");
      break;
    case operator_id::topk:
      m.k = reader.read<std::uint32_t>("parameters");
      break;
    case operator_id::randomk: {
      m.k = reader.read<std::uint32_t>("parameters");
      const auto shared_seed = reader.read<std::uint8_t>("parameters");
      if (shared_seed > 1)
        reject(fmt::format("bad shared_seed flag {}", shared_seed));
      m.shared_seed = shared_seed == 1;
      if (m.shared_seed)
        m.seed = reader.read<std::uint64_t>("parameters");
      break;
    }
    case operator_id::qsgd:
      m.levels = reader.read<std::uint32_t>("parameters");
      break;
    case operator_id::custom: {
      const auto length = reader.read<std::uint16_t>("parameters");
      if (length == 0 || length > max_operator_spec_bytes)
        reject(fmt::format("operator spec of {} bytes (at least 1, at most {})", length,
                           max_operator_spec_bytes));
      reader.need(length, "operator spec");
      m.spec.resize(length);
      reader.read_bytes(m.spec.data(), length, 1, "operator spec");
      if (!printable(m.spec))
        reject("operator spec with a character that is not printable");
      break;
    }
    default:
      break;
    }
    payload_layout layout;
    try {
      layout = layout_of(m);
    } catch (const std::exception& e) {
      // Invalid parameters, or a custom operator that is not registered here or whose factory
      // refuses the spec: the factory is the program's code, so any exception it throws counts.
      reject(e.what());
    }
    const auto declared = reader.read<std::uint32_t>("header");
    if (declared != layout.wire_bytes())
      reject(
          fmt::format("payload length {} does not match the {} bytes that {} with d = {} implies",
                      declared, layout.wire_bytes(), operator_name(m), m.dim));
    if (reader.remaining() < declared)
      reject(fmt::format("truncated payload: {} of {} bytes", reader.remaining(), declared));
    if (reader.remaining() > declared)
      reject(fmt::format("{} trailing bytes after the payload", reader.remaining() - declared));

    // From here on every size below is covered by bytes actually present.
    m.indices.resize(layout.indices);
    reader.read_array(std::span{m.indices}, "indices");
    m.values.resize(layout.values);
    reader.read_array(std::span{m.values}, "values");
    m.halves.resize(layout.halves);
    reader.read_array(std::span{m.halves}, "halves");
    // Every byte but the last word's unused tail is read into: only that tail is zeroed.
    m.bits.resize(layout.bit_words());
    if (!m.bits.empty())
      m.bits.back() = 0;
    reader.read_bytes(m.bits.data(), layout.bit_bytes(), 1, "bit stream");
    words_to_little_endian(m.bits); // the same swap converts back on big-endian hosts
    m.payload.resize(layout.bytes);
    reader.read_bytes(m.payload.data(), layout.bytes, 1, "payload");
    check_payload_content(m, layout);
  } catch (const cereal::Exception& e) {
    // Not expected, since lengths are checked first; kept so that no Cereal error escapes.
    reject(e.what());
  }
}

} // namespace dsq
