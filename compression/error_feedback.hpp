#pragma once

#include "compression/compressor.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace dsq {

/// Error compensation around a compressor: whatever compression drops this step is added back
/// into the next step's input, so gradient information is delayed, never lost.
///
/// One instance is one residual of docs/algorithm.md: δ⁽ⁱ⁾ on worker i (step 2), δ on the server
/// (step 3). For an input g (a gradient, or the server's average of received c⁽ⁱ⁾):
///
///   v = g + δ;   c = C[v];   δ ← v − c;   return c
///
/// so that c + δ_new = v element by element, and over any number of steps
/// Σ c_t + δ_T = Σ g_t + δ_0: the telescoping sum behind the virtual sequence x̃_t.
class error_feedback {
public:
  /// δ starts at 0.
  explicit error_feedback(std::size_t dim);

  /// Throws std::invalid_argument if g.size() differs from the dimension (δ is then unchanged).
  /// Should the compressor itself throw (only std::bad_alloc can), δ holds δ or v = g + δ
  /// afterwards.
  compressed_message compress(const compressor& op, std::span<const float> g, rng_engine& rng);

  /// The same, into `out`, whose buffers are reused (compressor::compress_into).
  void compress_into(const compressor& op, std::span<const float> g, rng_engine& rng,
                     compressed_message& out);

  /// The server's step under the mean with a sign operator fed sign pushes: v = w Σ c⁽ⁱ⁾ + δ,
  /// c = C[v], δ ← v − c, bit for bit what forming the mean with assign_scaled and add_scaled
  /// and then compress_into() give, without a d-sized mean. Returns false, and changes
  /// nothing, where that does not apply (another operator, a push not sign): the caller forms
  /// the mean itself.
  bool compress_mean_into(const compressor& op, std::span<const compressed_message> pushes,
                          float weight, compressed_message& out);

  std::span<const float> residual() const {
    settle();
    return residual_;
  }
  /// Writable, for checkpoints and for tests that set up a residual.
  std::span<float> residual() {
    settle();
    return residual_;
  }

  /// δ ← 0, as for a worker that (re)joins.
  void reset() noexcept;

  std::size_t dimension() const noexcept { return residual_.size(); }

private:
  /// Completes a deferred δ ← v − c (below) now.
  void settle() const;
  /// Keeps c to complete δ ← v − c later: by the next step's fused pass, or by settle().
  void defer(const compressed_message& c);

  // With the sign operator the residual's last subtraction waits: the storage holds v and
  // `deferred_` the c to subtract, which the next step's pass subtracts chunk by chunk as it
  // adds its input (one pass over δ per step where there were two). Whoever reads δ settles
  // it first; mutable because reading δ is what completes it.
  mutable std::vector<float> residual_;
  mutable compressed_message deferred_;
  mutable bool has_deferred_ = false;
  std::vector<float> scratch_; ///< a chunk of the server's mean (sign_feedback_input)
};

} // namespace dsq
