#pragma once

// Which operator a shard applies to its key range (--servers=K). Every shard, and every worker
// for its push slices, compresses a range with the run's operator on that slice alone; only a
// sparsifier's count changes with the slice (docs/compression.md, "Sharded operators"):
//
//   topk:k=N, randomk:k=N (a count)  each range r keeps k_r = ⌈N · |r| / d⌉ (at most |r|),
//                                    so the K ranges keep N in all, or up to K−1 more;
//   a fraction (k < 1)               unchanged: it resolves on |r| as it does on d;
//   everything else                  unchanged: sign's scale, QSGD's norm, a custom operator
//                                    see the slice alone.

#include "base/random.hpp"
#include "training/double_squeeze.hpp"
#include "training/shard/key_ranges.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dsq {

/// The spec of the operator that compresses `range` of a model of `dim` coordinates, for the
/// run's operator `spec` (the rule above). Throws spec_error for a spec make_compressor refuses.
std::string range_operator_spec(const std::string& spec, std::uint64_t dim, const key_range& range);

/// k_r = ⌈k · |range| / dim⌉, at most |range|: a count sparsifier's share of one range.
std::uint32_t range_count(std::uint32_t k, std::uint64_t dim, const key_range& range);

/// One compression pass per range: the operator of range_operator_spec(spec, dim, range), with
/// a residual of the range's size if `residual`.
std::vector<compression_pass> range_passes(const std::string& spec, bool residual,
                                           std::uint64_t dim, std::span<const key_range> ranges);

/// A worker's sharded push (or any sliced compression): range k of `g` through passes[k], in
/// range order, all drawing from `rng`, written as one sliced_payload container. Throws
/// std::invalid_argument if passes and ranges differ in number or a range is past g's end.
std::vector<std::uint8_t> compress_slices(std::span<compression_pass> passes,
                                          std::span<const key_range> ranges,
                                          std::span<const float> g, rng_engine& rng);

} // namespace dsq
