#pragma once

// A gradient or an update of a sharded run (--servers=K) is K wire payloads, one per key range
// (key_ranges.hpp), each compressed on its own. Inside a worker process they travel as one byte
// vector, so that the worker's core keeps handling "a push" and "an update" as it does
// unsharded: the worker engine writes and reads this container, and the worker's shard
// multiplexer splits a push into its K slice pushes and joins the K slice updates of a version.
// It never crosses the network: each slice travels alone, as a plain wire payload.
//
// Layout (little-endian): u32 K, then K u64 lengths, then the K payloads back to back.

#include <cstdint>
#include <span>
#include <vector>

namespace dsq {

/// The container of `slices`, in shard order.
std::vector<std::uint8_t> join_slices(std::span<const std::vector<std::uint8_t>> slices);

/// The K slices of a container, viewing `bytes` (which must outlive them). Throws
/// std::invalid_argument for a container that is truncated, has trailing bytes, or does not hold
/// exactly `expected` slices.
std::vector<std::span<const std::uint8_t>> split_slices(std::span<const std::uint8_t> bytes,
                                                        std::uint32_t expected);

} // namespace dsq
