#pragma once

// How a model's coordinates are split over K parameter-server shards (--servers=K): K
// contiguous key ranges, shard k owning [begin_k, end_k). The rule, which docs/compression.md
// states for users: every range but the last holds B coordinates, B = ⌈d / K⌉ rounded up to a
// multiple of `align`, the last holds the rest. Ranges ignore layer boundaries: the operators
// work on any slice, and equal sizes balance the shards' links, which is what K is for.
// `align` keeps an operator's own blocks whole (sign:block=B: a shard's slice is whole blocks,
// so the sharded operator equals the unsharded one).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dsq {

/// The coordinates [begin, end) of x that one shard owns.
struct key_range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  /// end − begin.
  std::uint64_t size() const { return end - begin; }
  /// Same bounds.
  friend bool operator==(const key_range&, const key_range&) = default;
};

/// The K ranges of a model of `dim` coordinates, by the rule above. Throws std::invalid_argument
/// naming the fix when `shards` is 0 or the model is too small for every shard to own at least
/// one coordinate (one aligned block).
std::vector<key_range> split_keys(std::uint64_t dim, std::uint32_t shards, std::uint64_t align = 1);

/// The alignment an operator spec asks of the ranges: the block of sign:block=B, else 1.
std::uint64_t range_alignment(const std::string& op_spec);

} // namespace dsq
