#include "training/shard/range_operator.hpp"

#include "compression/make_compressor.hpp"
#include "compression/randomk.hpp"
#include "compression/topk.hpp"
#include "compression/wire.hpp"
#include "training/shard/sliced_payload.hpp"

#include <algorithm>
#include <stdexcept>

namespace dsq {

std::uint32_t range_count(std::uint32_t k, std::uint64_t dim, const key_range& range) {
  if (dim == 0)
    return 0;
  // In 128 bits: k · |r| reaches 2^64 for the largest models and counts.
  const auto scaled = static_cast<unsigned __int128>(k) * range.size();
  const auto share = static_cast<std::uint64_t>((scaled + dim - 1) / dim);
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(share, range.size()));
}

std::string range_operator_spec(const std::string& spec, std::uint64_t dim,
                                const key_range& range) {
  auto op = make_compressor(spec);
  if (const auto* t = dynamic_cast<const topk_compressor*>(op.get()); t && !t->k().is_fraction())
    return topk_compressor(
               sparsity::count(range_count(static_cast<std::uint32_t>(t->k().value()), dim, range)))
        .spec();
  if (const auto* r = dynamic_cast<const randomk_compressor*>(op.get()); r && !r->k().is_fraction())
    return randomk_compressor(
               sparsity::count(range_count(static_cast<std::uint32_t>(r->k().value()), dim, range)),
               r->unbiased(), r->shared_seed())
        .spec();
  return spec;
}

std::vector<compression_pass> range_passes(const std::string& spec, bool residual,
                                           std::uint64_t dim, std::span<const key_range> ranges) {
  std::vector<compression_pass> out;
  out.reserve(ranges.size());
  for (const auto& r : ranges)
    out.emplace_back(range_operator_spec(spec, dim, r), residual, r.size());
  return out;
}

std::vector<std::uint8_t> compress_slices(std::span<compression_pass> passes,
                                          std::span<const key_range> ranges,
                                          std::span<const float> g, rng_engine& rng) {
  if (passes.size() != ranges.size())
    throw std::invalid_argument("compress_slices: one pass per range");
  std::vector<std::vector<std::uint8_t>> slices;
  slices.reserve(ranges.size());
  for (std::size_t k = 0; k < ranges.size(); ++k) {
    if (ranges[k].end > g.size() || ranges[k].begin > ranges[k].end)
      throw std::invalid_argument("compress_slices: a range past the vector's end");
    slices.push_back(
        to_bytes(passes[k].compress(g.subspan(ranges[k].begin, ranges[k].size()), rng)));
  }
  return join_slices(slices);
}

} // namespace dsq
