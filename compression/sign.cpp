#include "compression/sign.hpp"

#include "compression/detail/sign_kernels.hpp"
#include "compression/payload_layout.hpp"

#include <algorithm>
#include <numeric>
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

/// Coordinates per chunk of the passes that go chunk by chunk: whole words of signs (64), 16 KB
/// of floats, so that a chunk stays in L1 from one kernel to the next.
constexpr std::size_t chunk_target = 4096;

/// Coordinates per chunk of feedback_compress_into(): whole words of signs and whole blocks,
/// about chunk_target. A block size whose least common multiple with 64 is large gets one
/// chunk: correct, only without the cache's help.
std::size_t chunk_length(std::uint32_t block, std::size_t d) {
  if (block == 0)
    return chunk_target;
  const std::size_t unit = std::lcm(static_cast<std::size_t>(block), std::size_t{64});
  if (unit > 16 * chunk_target)
    return std::max<std::size_t>(d, 1);
  return unit * std::max<std::size_t>(1, chunk_target / unit);
}

/// Refuses, naming `what`, a message that is not a sign message of d coordinates whose sizes
/// its decoder can index without further checks (those payload_layout gives, as decompress
/// checks them).
void check_sign_message(const compressed_message& m, std::size_t d, const char* what) {
  if (m.op == operator_id::sign && m.dimension() == d) {
    const payload_layout layout = layout_of(m);
    if (m.values.size() == layout.values && m.bits.size() == layout.bit_words())
      return;
  }
  throw std::invalid_argument(std::string{"sign error feedback: "} + what +
                              " is not a sign message of " + std::to_string(d) + " coordinates");
}

/// out[j - begin] (written as `mode` says) for the coordinates j in [begin, end) of the sign
/// message m, begin a multiple of 64, block by block of m: decode_sign is the whole range.
void decode_range(const detail::sign_kernel_table& kernels, const compressed_message& m,
                  std::size_t begin, std::size_t end, float* out, detail::write_mode mode) {
  const std::size_t d = m.dimension();
  const std::size_t block = m.block == 0 ? d : m.block;
  const std::uint64_t* bits = m.bits.data() + begin / 64;
  for (std::size_t lo = begin; lo < end;) {
    const std::size_t b = lo / block;
    const std::size_t hi = std::min(end, (b + 1) * block);
    // Every coordinate of a block is ±magnitude; for add_scaled the scale is folded in first,
    // which is exact because flipping a float's sign bit commutes with the multiplication.
    const float magnitude = mode.accumulate ? mode.scale * m.values[b] : m.values[b];
    kernels.decode(bits, lo - begin, hi - begin, magnitude, out, mode);
    lo = hi;
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

void sign_compressor::feedback_compress_into(std::span<float> acc,
                                             const compressed_message* deferred,
                                             const sign_feedback_input& g,
                                             std::vector<float>& scratch,
                                             compressed_message& out) const {
  const std::size_t d = acc.size();
  const bool dense = g.pushes.empty();
  if (dense && g.dense.size() != d)
    throw std::invalid_argument("sign error feedback: adding " + std::to_string(g.dense.size()) +
                                " coordinates to " + std::to_string(d));
  for (const auto& c : g.pushes)
    check_sign_message(c, d, "a push");
  if (deferred != nullptr)
    check_sign_message(*deferred, d, "the deferred update");
  const auto& kernels = detail::active_sign_kernels();
  const std::size_t chunk = chunk_length(block_, d);
  if (!dense)
    scratch.resize(std::min(chunk, d));
  encode_into(out, d, block_, [&](std::size_t block, std::uint64_t* bits, double* block_sums) {
    for (std::size_t begin = 0; begin < d; begin += chunk) {
      const std::size_t end = std::min(d, begin + chunk);
      float* v = acc.data() + begin;
      if (deferred != nullptr) // δ ← v − c of the previous step
        decode_range(kernels, *deferred, begin, end, v, {.accumulate = true, .scale = -1.0f});
      const float* input = dense ? g.dense.data() + begin : scratch.data();
      for (std::size_t i = 0; i < g.pushes.size(); ++i) // w Σ c⁽ⁱ⁾, the first onto zeros
        decode_range(kernels, g.pushes[i], begin, end, scratch.data(),
                     {.accumulate = true, .scale = g.weight, .onto_zeros = i == 0});
      // Chunks start on a block's first coordinate (or all is one block): the chunk's block
      // sums continue the message's, word after word, as one call over everything would.
      kernels.add_encode(v, input, end - begin, block, bits + begin / 64,
                         block_sums + begin / block);
    }
  });
}

void add_scaled_in_turn(std::span<const compressed_message> updates, std::span<const float> scales,
                        std::span<float> x) {
  if (updates.size() != scales.size())
    throw std::invalid_argument("add_scaled_in_turn: " + std::to_string(updates.size()) +
                                " updates, " + std::to_string(scales.size()) + " scales");
  const std::size_t d = x.size();
  for (const auto& c : updates)
    check_sign_message(c, d, "an update");
  const auto& kernels = detail::active_sign_kernels();
  for (std::size_t begin = 0; begin < d; begin += chunk_target) {
    const std::size_t end = std::min(d, begin + chunk_target);
    for (std::size_t k = 0; k < updates.size(); ++k)
      decode_range(kernels, updates[k], begin, end, x.data() + begin,
                   {.accumulate = true, .scale = scales[k]});
  }
}

void detail::decode_sign(const compressed_message& m, std::span<float> out, write_mode mode) {
  decode_range(active_sign_kernels(), m, 0, out.size(), out.data(), mode);
}

} // namespace dsq
