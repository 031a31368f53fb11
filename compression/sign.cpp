#include "compression/sign.hpp"

#include "compression/detail/sign_kernels.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsq {

namespace {

// The message of d coordinates in blocks of `block_size` (0: one block) around the kernel
// call encode(block, bits, block_sums), which writes the signs and adds the magnitudes.
template <class Encode>
void encode_into(compressed_message& m, std::size_t d, std::uint32_t block_size, Encode&& encode) {
  const auto dim = detail::checked_dimension(d);
  clear_keeping_capacity(m);
  m.op = operator_id::sign;
  m.dim = dim;
  m.block = block_size;
  const std::size_t block = block_size == 0 ? d : block_size;
  const std::size_t blocks = d == 0 ? 0 : (d + block - 1) / block;
  m.bits.resize((d + 63) / 64); // every word written by the kernel

  // Magnitudes are summed in float over 64 coordinates, then in double per block: float alone
  // would lose the small terms of a 10^7-coordinate sum.
  std::vector<double> block_sums(blocks, 0.0);
  encode(block, m.bits.data(), block_sums.data());

  m.values.resize(blocks);
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t length = std::min(block, d - b * block);
    m.values[b] = static_cast<float>(block_sums[b] / static_cast<double>(length));
  }
}

} // namespace

std::string sign_compressor::spec() const {
  return block_ == 0 ? "sign" : "sign:block=" + std::to_string(block_);
}

compressed_message sign_compressor::compress(std::span<const float> v, rng_engine& rng) const {
  compressed_message m;
  compress_into(v, rng, m);
  return m;
}

void sign_compressor::compress_into(std::span<const float> v, rng_engine&,
                                    compressed_message& m) const {
  encode_into(m, v.size(), block_, [&](std::size_t block, std::uint64_t* bits, double* block_sums) {
    detail::active_sign_kernels().encode(v.data(), v.size(), block, bits, block_sums);
  });
}

void sign_compressor::add_and_compress_into(std::span<float> acc, std::span<const float> g,
                                            compressed_message& m) const {
  if (acc.size() != g.size())
    throw std::invalid_argument("sign: adding " + std::to_string(g.size()) + " coordinates to " +
                                std::to_string(acc.size()));
  encode_into(m, acc.size(), block_,
              [&](std::size_t block, std::uint64_t* bits, double* block_sums) {
                detail::active_sign_kernels().add_encode(acc.data(), g.data(), acc.size(), block,
                                                         bits, block_sums);
              });
}

void detail::decode_sign(const compressed_message& m, std::span<float> out, write_mode mode) {
  const sign_kernel_table& kernels = active_sign_kernels();
  const std::size_t d = out.size();
  const std::size_t block = m.block == 0 ? d : m.block;
  for (std::size_t start = 0, b = 0; start < d; start += block, ++b) {
    // Every coordinate of a block is ±magnitude; for add_scaled the scale is folded in first,
    // which is exact because flipping a float's sign bit commutes with the multiplication.
    const float magnitude = mode.accumulate ? mode.scale * m.values[b] : m.values[b];
    kernels.decode(m.bits.data(), start, std::min(d, start + block), magnitude, out.data(), mode);
  }
}

} // namespace dsq
