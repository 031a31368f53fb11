#pragma once

#include "compression/compressor.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace dsq {

/// What sign_compressor::feedback_compress_into() adds to the residual: `dense` (a worker's
/// gradient) when it is not empty, else the mean w Σ c⁽ⁱ⁾ of `pushes` (the server's: sign
/// messages, formed as assign_scaled of the first then add_scaled of the others give it).
struct sign_feedback_input {
  std::span<const float> dense;               ///< g itself, or empty
  std::span<const compressed_message> pushes; ///< the c⁽ⁱ⁾ when dense is empty
  float weight = 1.0f;                        ///< w
};

/// 1-bit compression: C[v]_j = s_b · sign(v_j), with sign(0) = +1 and s_b = ‖v_b‖₁ / |b| the mean
/// magnitude of the block b holding j. Without a block size the whole vector is one block.
///
/// This scale minimises ‖C[v] − v‖² over all scales for fixed signs, which gives
/// ‖C[v] − v‖² = Σ_b (‖v_b‖₂² − ‖v_b‖₁² / |b|) ≤ ‖v‖₂². Biased; d + 32 · blocks bits.
class sign_compressor final : public compressor {
public:
  /// block = 0: one scale for the whole vector.
  explicit sign_compressor(std::uint32_t block = 0) noexcept : block_(block) {}

  compressed_message compress(std::span<const float> v, rng_engine& rng) const override;
  void compress_into(std::span<const float> v, rng_engine& rng,
                     compressed_message& out) const override;
  /// Error feedback's step with this operator (error_feedback.cpp), chunk by chunk so that the
  /// residual and the input meet in cache instead of in three passes over memory: first
  /// acc += −1 · *deferred when given (δ ← v − c of the previous step, left for now: the
  /// additions add_scaled(*deferred, −1, acc) makes), then acc += g for g the input (below),
  /// then out = C[acc]. Bit for bit those passes one after the other. `scratch` holds a chunk of
  /// a pushes' mean between the steps. Throws std::invalid_argument if a size differs or a
  /// message is not a sign message of acc's dimension.
  void feedback_compress_into(std::span<float> acc, const compressed_message* deferred,
                              const sign_feedback_input& g, std::vector<float>& scratch,
                              compressed_message& out) const;
  bool unbiased() const override { return false; }
  std::string spec() const override;

  std::uint32_t block() const noexcept { return block_; }

private:
  std::uint32_t block_;
};

/// x += scales[k] · C_k for each sign message C_k of `updates` in turn: bit for bit add_scaled()
/// of one after the other, in one pass over x (chunk by chunk, every update applied to a chunk
/// while it is in cache). Throws std::invalid_argument, before x changes, if the counts differ
/// or a message is not a sign message of x's dimension.
void add_scaled_in_turn(std::span<const compressed_message> updates, std::span<const float> scales,
                        std::span<float> x);

} // namespace dsq
