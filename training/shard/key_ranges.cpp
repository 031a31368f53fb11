#include "training/shard/key_ranges.hpp"

#include "compression/make_compressor.hpp"
#include "compression/sign.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dsq {

std::vector<key_range> split_keys(std::uint64_t dim, std::uint32_t shards, std::uint64_t align) {
  if (shards == 0)
    throw std::invalid_argument("--servers must be at least 1");
  if (align == 0)
    align = 1;
  const std::uint64_t even = (dim + shards - 1) / shards;
  const std::uint64_t block = (even + align - 1) / align * align;
  if (block * (shards - 1) >= dim)
    throw std::invalid_argument(fmt::format(
        "--servers={} needs a model of more than {} coordinates (this one has {}{}): use fewer "
        "shards or a larger model",
        shards, block * (shards - 1), dim,
        align > 1 ? fmt::format(", shards own whole blocks of {}", align) : std::string{}));
  std::vector<key_range> out(shards);
  for (std::uint32_t k = 0; k < shards; ++k) {
    out[k].begin = k * block;
    out[k].end = k + 1 == shards ? dim : (k + 1) * block;
  }
  return out;
}

std::uint64_t range_alignment(const std::string& op_spec) {
  auto op = make_compressor(op_spec);
  if (auto* s = dynamic_cast<const sign_compressor*>(op.get()); s && s->block() > 0)
    return s->block();
  return 1;
}

} // namespace dsq
