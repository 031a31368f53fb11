#pragma once

// A worker's copy of the run's training set as it arrives from the server in chunks
// (net/PROTOCOL.md, "Data from the server"), free of CAF: it says which chunk to ask for next,
// checks every chunk against what the server's welcome announced (the data set's fingerprint,
// its size from its shape, the chunk's index, offset and size), refuses what does not fit,
// ignores a copy of a chunk it holds, and gives the data set only once every byte is there and
// its fingerprint is the announced one.

#include "model/data_identity.hpp"
#include "model/dataset.hpp"
#include "training/messages.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace dsq {

class data_assembler {
public:
  /// The most a worker takes from a server by default: 16 GiB.
  static constexpr std::uint64_t default_max_bytes = std::uint64_t{16} << 30;

  /// Expects the training set that `announced` describes, in chunks of `chunk_bytes` (clamped to
  /// [data_chunk_min, data_chunk_max]). Throws std::runtime_error if its layout would exceed
  /// `max_bytes`.
  data_assembler(const data_identity& announced, std::uint32_t chunk_bytes,
                 std::uint64_t max_bytes = default_max_bytes);

  /// The next chunk to ask for, if any is left and fewer than data_window asked for have not
  /// arrived; it counts as asked for from now on.
  std::optional<data_request> next_request();

  /// What offer() did with a chunk.
  enum class outcome {
    taken,     ///< stored
    duplicate, ///< a copy of a chunk already held: ignored
  };
  /// Takes `c`. Throws std::runtime_error, naming what is wrong, for a chunk of another data set
  /// or size, one never asked for, one whose offset or size is not its index's.
  outcome offer(const data_chunk& c);

  /// True once every chunk arrived.
  bool complete() const { return received_chunks_ == chunk_count_; }
  /// The data set, once complete(): its layout read back, its fingerprint checked against the
  /// announced one. Throws std::runtime_error if it is not the announced data set. Frees the
  /// bytes.
  dataset take();

  std::uint64_t total_bytes() const { return total_; }
  std::uint64_t received_bytes() const { return received_bytes_; }
  std::uint64_t chunk_count() const { return chunk_count_; }
  std::uint32_t chunk_bytes() const { return chunk_bytes_; }

private:
  data_identity announced_;
  std::uint32_t chunk_bytes_;
  std::uint64_t total_;
  std::uint64_t chunk_count_;
  std::uint64_t requested_ = 0; ///< chunks 0 .. requested_ - 1 were asked for
  std::uint64_t received_chunks_ = 0;
  std::uint64_t received_bytes_ = 0;
  std::vector<bool> held_;          ///< by chunk index, up to requested_
  std::vector<std::uint8_t> bytes_; ///< the layout, grown as chunks are asked for
};

/// The chunk size a worker asks for: data_chunk_max, or less under a message limit of
/// `message_limit` bytes (0: none), never below data_chunk_min.
std::uint32_t data_chunk_size(std::uint64_t message_limit);

} // namespace dsq
