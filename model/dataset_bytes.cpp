#include "model/dataset_bytes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>

namespace dsq {

namespace {

constexpr std::array<std::uint8_t, 8> magic = {'D', 'S', 'Q', 'D', 'A', 'T', 'A', '1'};
constexpr std::uint64_t header_size = 32;

/// Writes `value` as `width` little-endian bytes at `at`.
void put_le(std::uint8_t* at, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i)
    at[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint64_t get_le(const std::uint8_t* at, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= std::uint64_t{at[i]} << (8 * i);
  return value;
}

std::array<std::uint8_t, header_size> header_of(const dataset& data) {
  std::array<std::uint8_t, header_size> h{};
  std::copy(magic.begin(), magic.end(), h.begin());
  put_le(&h[8], static_cast<std::uint64_t>(data.features.rows()), 8);
  put_le(&h[16], data.labels.size(), 8);
  put_le(&h[24], static_cast<std::uint32_t>(data.num_classes), 4);
  return h;
}

/// Copies `length` bytes of the little-endian image of the 4-byte words `words`, from
/// `byte_offset` on, into `out` (a chunk may begin and end inside a word).
template <class Word>
void copy_words(const Word* words, std::uint64_t byte_offset, std::uint8_t* out,
                std::uint64_t length) {
  static_assert(sizeof(Word) == 4);
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, reinterpret_cast<const std::uint8_t*>(words) + byte_offset, length);
  } else {
    for (std::uint64_t i = 0; i < length; ++i) {
      const auto at = byte_offset + i;
      const auto word = std::bit_cast<std::uint32_t>(words[at / 4]);
      out[i] = static_cast<std::uint8_t>(word >> (8 * (at % 4)));
    }
  }
}

} // namespace

std::uint64_t dataset_bytes_size(std::uint64_t features, std::uint64_t samples) {
  return header_size + 4 * features * samples + 4 * samples;
}

void copy_dataset_bytes(const dataset& data, std::uint64_t offset, std::span<std::uint8_t> out) {
  const auto rows = static_cast<std::uint64_t>(data.features.rows());
  const auto n = static_cast<std::uint64_t>(data.labels.size());
  const auto feature_bytes = 4 * rows * n;
  const auto total = dataset_bytes_size(rows, n);
  if (offset > total || out.size() > total - offset)
    throw std::out_of_range(
        fmt::format("bytes {}..{} of a data set of {} bytes", offset, offset + out.size(), total));
  // Three regions: the header, the features, the labels; a range may touch each.
  auto* at = out.data();
  auto pos = offset;
  const auto end = offset + out.size();
  if (pos < header_size && pos < end) {
    const auto h = header_of(data);
    const auto take = std::min(end, header_size) - pos;
    std::memcpy(at, h.data() + pos, take);
    at += take;
    pos += take;
  }
  if (pos < header_size + feature_bytes && pos < end) {
    const auto take = std::min(end, header_size + feature_bytes) - pos;
    copy_words(data.features.data(), pos - header_size, at, take);
    at += take;
    pos += take;
  }
  if (pos < end)
    copy_words(data.labels.data(), pos - header_size - feature_bytes, at, end - pos);
}

dataset read_dataset_bytes(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < header_size || !std::equal(magic.begin(), magic.end(), bytes.begin()))
    throw std::invalid_argument("not a dsq data set (bad header)");
  const auto rows = get_le(&bytes[8], 8);
  const auto n = get_le(&bytes[16], 8);
  const auto classes = get_le(&bytes[24], 4);
  // The sizes are checked against the bytes before anything is allocated for them.
  if (rows > (std::uint64_t{1} << 32) || n > (std::uint64_t{1} << 40) ||
      (n > 0 && rows > bytes.size() / 4 / n) || dataset_bytes_size(rows, n) != bytes.size())
    throw std::invalid_argument(fmt::format("data set of {} features x {} samples does not fit "
                                            "its {} bytes",
                                            rows, n, bytes.size()));
  if (classes == 0 || classes > (std::uint64_t{1} << 31) - 1)
    throw std::invalid_argument(fmt::format("data set with {} classes", classes));
  dataset data;
  data.num_classes = static_cast<int>(classes);
  data.features.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(n));
  data.labels.resize(n);
  const auto* values = bytes.data() + header_size;
  if constexpr (std::endian::native == std::endian::little)
    std::memcpy(data.features.data(), values, 4 * rows * n);
  else
    for (std::uint64_t i = 0; i < rows * n; ++i)
      data.features.data()[i] =
          std::bit_cast<float>(static_cast<std::uint32_t>(get_le(values + 4 * i, 4)));
  const auto* labels = values + 4 * rows * n;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto label =
        static_cast<std::int32_t>(static_cast<std::uint32_t>(get_le(labels + 4 * i, 4)));
    if (label < 0 || label >= data.num_classes)
      throw std::invalid_argument(
          fmt::format("sample {} has label {}, outside [0, {})", i, label, classes));
    data.labels[i] = label;
  }
  return data;
}

} // namespace dsq
