#include "training/shard/sliced_payload.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace dsq {

namespace {

template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

template <class T>
T get(std::span<const std::uint8_t> bytes, std::size_t at) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<T>(bytes[at + i]) << (8 * i);
  return value;
}

} // namespace

std::vector<std::uint8_t> join_slices(std::span<const std::vector<std::uint8_t>> slices) {
  std::size_t total = 4 + 8 * slices.size();
  for (const auto& s : slices)
    total += s.size();
  std::vector<std::uint8_t> out;
  out.reserve(total);
  put(out, static_cast<std::uint32_t>(slices.size()));
  for (const auto& s : slices)
    put(out, static_cast<std::uint64_t>(s.size()));
  for (const auto& s : slices)
    out.insert(out.end(), s.begin(), s.end());
  return out;
}

std::vector<std::span<const std::uint8_t>> split_slices(std::span<const std::uint8_t> bytes,
                                                        std::uint32_t expected) {
  if (bytes.size() < 4)
    throw std::invalid_argument("sliced payload: truncated before its slice count");
  const auto count = get<std::uint32_t>(bytes, 0);
  if (count != expected)
    throw std::invalid_argument(
        fmt::format("sliced payload: {} slices where the run has {} shards", count, expected));
  std::size_t at = 4 + 8 * static_cast<std::size_t>(count);
  if (bytes.size() < at)
    throw std::invalid_argument("sliced payload: truncated in its slice lengths");
  std::vector<std::span<const std::uint8_t>> out;
  out.reserve(count);
  for (std::uint32_t k = 0; k < count; ++k) {
    const auto len = get<std::uint64_t>(bytes, 4 + 8 * static_cast<std::size_t>(k));
    if (len > bytes.size() - at)
      throw std::invalid_argument(fmt::format("sliced payload: slice {} runs past the end", k));
    out.push_back(bytes.subspan(at, static_cast<std::size_t>(len)));
    at += static_cast<std::size_t>(len);
  }
  if (at != bytes.size())
    throw std::invalid_argument("sliced payload: bytes after the last slice");
  return out;
}

} // namespace dsq
