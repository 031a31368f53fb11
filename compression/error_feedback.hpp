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

  std::span<const float> residual() const noexcept { return residual_; }
  /// Writable, for checkpoints and for tests that set up a residual.
  std::span<float> residual() noexcept { return residual_; }

  /// δ ← 0, as for a worker that (re)joins.
  void reset() noexcept;

  std::size_t dimension() const noexcept { return residual_.size(); }

private:
  std::vector<float> residual_;
};

} // namespace dsq
