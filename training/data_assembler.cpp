#include "training/data_assembler.hpp"

#include "model/dataset_bytes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace dsq {

namespace {

std::uint32_t clamp_chunk(std::uint32_t bytes) {
  return std::clamp(bytes, data_chunk_min, data_chunk_max);
}

[[noreturn]] void refuse(const std::string& what) {
  throw std::runtime_error("bad data from the server: " + what);
}

} // namespace

std::uint32_t data_chunk_size(std::uint64_t message_limit) {
  if (message_limit == 0)
    return data_chunk_max;
  // Half the limit leaves room for the message around the bytes.
  return clamp_chunk(
      static_cast<std::uint32_t>(std::min<std::uint64_t>(message_limit / 2, data_chunk_max)));
}

data_assembler::data_assembler(const data_identity& announced, std::uint32_t chunk_bytes,
                               std::uint64_t max_bytes)
    : announced_(announced), chunk_bytes_(clamp_chunk(chunk_bytes)) {
  if (announced.features > (std::uint64_t{1} << 32) ||
      announced.train_samples > (std::uint64_t{1} << 40))
    refuse(fmt::format("a training set of {} samples of {} features", announced.train_samples,
                       announced.features));
  total_ = dataset_bytes_size(announced.features, announced.train_samples);
  if (total_ > max_bytes)
    throw std::runtime_error(fmt::format("the server's training set is {:.1f} MB, more than the "
                                         "{:.1f} MB a worker takes from its server",
                                         total_ / 1e6, max_bytes / 1e6));
  chunk_count_ = (total_ + chunk_bytes_ - 1) / chunk_bytes_;
}

std::optional<data_request> data_assembler::next_request() {
  if (requested_ >= chunk_count_ || requested_ - received_chunks_ >= data_window)
    return std::nullopt;
  data_request r;
  r.fingerprint = announced_.train_fingerprint;
  r.index = requested_++;
  r.chunk_bytes = chunk_bytes_;
  r.received = received_chunks_;
  // Room for what was asked for, and no more: a server cannot make this worker hold bytes it
  // did not ask for.
  bytes_.resize(std::min(total_, requested_ * chunk_bytes_));
  held_.resize(requested_, false);
  return r;
}

data_assembler::outcome data_assembler::offer(const data_chunk& c) {
  if (c.fingerprint != announced_.train_fingerprint)
    refuse(fmt::format("a chunk of data set {:016x}, not {:016x} (the welcome's)", c.fingerprint,
                       announced_.train_fingerprint));
  if (c.total != total_)
    refuse(
        fmt::format("a chunk of a {}-byte data set, not {} bytes as announced", c.total, total_));
  if (c.index >= requested_)
    refuse(fmt::format("chunk {}, not asked for (asked: {})", c.index, requested_));
  const auto offset = c.index * chunk_bytes_;
  if (c.offset != offset)
    refuse(fmt::format("chunk {} at offset {}, not {}", c.index, c.offset, offset));
  const auto size = std::min<std::uint64_t>(chunk_bytes_, total_ - offset);
  if (c.bytes.size() != size)
    refuse(fmt::format("chunk {} of {} bytes, not {}", c.index, c.bytes.size(), size));
  if (held_[c.index])
    return outcome::duplicate;
  std::memcpy(bytes_.data() + offset, c.bytes.data(), size);
  held_[c.index] = true;
  ++received_chunks_;
  received_bytes_ += size;
  return outcome::taken;
}

dataset data_assembler::take() {
  if (!complete())
    throw std::logic_error("data_assembler::take before every chunk arrived");
  dataset data;
  try {
    data = read_dataset_bytes(bytes_);
  } catch (const std::invalid_argument& e) {
    refuse(e.what());
  }
  std::vector<std::uint8_t>{}.swap(bytes_);
  if (data.size() != announced_.train_samples ||
      static_cast<std::uint64_t>(data.dimension()) != announced_.features ||
      static_cast<std::uint32_t>(data.num_classes) != announced_.classes)
    refuse(fmt::format("{} samples of {} features in {} classes, not {} of {} in {} as announced",
                       data.size(), data.dimension(), data.num_classes, announced_.train_samples,
                       announced_.features, announced_.classes));
  if (const auto got = data_fingerprint(data); got != announced_.train_fingerprint)
    refuse(fmt::format("the training set's fingerprint is {:016x}, not {:016x} as announced "
                       "(corrupted on the way?)",
                       got, announced_.train_fingerprint));
  return data;
}

} // namespace dsq
