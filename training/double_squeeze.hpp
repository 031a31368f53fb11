#pragma once

// The DoubleSqueeze update (Algorithm 1 of docs/algorithm.md), free of CAF, in one place:
//
//   worker i:  v⁽ⁱ⁾ = g⁽ⁱ⁾ + δ⁽ⁱ⁾;  c⁽ⁱ⁾ = C[v⁽ⁱ⁾];  δ⁽ⁱ⁾ ← v⁽ⁱ⁾ − c⁽ⁱ⁾     (compression_pass)
//   server:    v = w Σ_i c⁽ⁱ⁾ + δ;  c = C[v];  δ ← v − c                  (server_aggregate)
//              or, with a robust --aggregate, v = A(c⁽¹⁾..c⁽ⁿ⁾) + δ (robust_aggregate.hpp)
//   everyone:  x_{t+1} = x_t − γ c                                        (apply_update)
//
// The weight w is 1/n. Synchronous (Algorithm 1): the sum runs over the n pushes of one step.
// Asynchronous variant: every push is applied alone, v = c⁽ⁱ⁾/n + δ, n the live workers.
//
// Every baseline of the table in docs/algorithm.md is this loop with switches: a pass without
// residual compresses g itself, a pass with the identity operator sends g exactly.

#include "base/random.hpp"
#include "compression/compressed_message.hpp"
#include "compression/compressor.hpp"
#include "compression/error_feedback.hpp"
#include "config/aggregate_rule.hpp"
#include "model/momentum.hpp"

#include <Eigen/Core>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dsq {

/// One direction of communication: an operator C and, if switched on, its residual δ.
class compression_pass {
public:
  compression_pass(const std::string& spec, bool residual, std::size_t dim);

  /// With residual: v = g + δ; c = C[v]; δ ← v − c. Without: c = C[g].
  compressed_message compress(std::span<const float> g, rng_engine& rng);

  /// The same into `out`, reusing its buffers: what the engines call every step.
  void compress_into(std::span<const float> g, rng_engine& rng, compressed_message& out);

  /// With residual: v = w Σ c⁽ⁱ⁾ + δ; c = C[v]; δ ← v − c without a d-sized mean, where
  /// error_feedback::compress_mean_into applies (a sign operator fed sign pushes); false, and
  /// nothing changed, elsewhere.
  bool compress_mean_into(std::span<const compressed_message> pushes, float weight,
                          compressed_message& out);

  bool has_residual() const { return feedback_.has_value(); }

  /// δ, or an empty span when the pass has no residual.
  std::span<const float> residual() const;

  const compressor& op() const { return *op_; }

  /// Sets δ (from a checkpoint); ignored by a pass without residual.
  void restore_residual(std::span<const float> delta);

private:
  std::unique_ptr<compressor> op_;
  std::optional<error_feedback> feedback_;
};

/// Server, step 3: sums `weight` times each pushed c⁽ⁱ⁾ (in the order given, which callers keep
/// fixed so that runs are reproducible) into `average`, then compresses it through the downlink
/// pass. A downlink with residual whose operator and pushes are sign forms the mean chunk by
/// chunk instead (compression_pass::compress_mean_into, the same bits) and leaves `average` as
/// it was. Throws std::invalid_argument without pushes.
compressed_message server_aggregate(std::span<const compressed_message> pushes, float weight,
                                    compression_pass& downlink, Eigen::VectorXf& average,
                                    rng_engine& rng);

/// server_aggregate() into `out`, reusing its buffers: what update_engine calls every step.
void server_aggregate_into(std::span<const compressed_message> pushes, float weight,
                           const aggregate_rule& rule, compression_pass& downlink,
                           Eigen::VectorXf& average, std::vector<float>& scratch, rng_engine& rng,
                           compressed_message& out);

/// Server, step 3 under --aggregate: `average` is A(c⁽¹⁾..c⁽ⁿ⁾), the weighted sum above for the
/// mean (bit for bit the same), the coordinate-wise rule of robust_aggregate.hpp otherwise
/// (which ignores `weight`); then the same downlink pass. `scratch` is the robust rules'.
compressed_message server_aggregate(std::span<const compressed_message> pushes, float weight,
                                    const aggregate_rule& rule, compression_pass& downlink,
                                    Eigen::VectorXf& average, std::vector<float>& scratch,
                                    rng_engine& rng);

/// Step 4 on every replica and on the server's copy: x ← x − γ c. With momentum μ > 0 the
/// replicas run heavy ball on c (m ← μ m + c; x ← x − γ m), identically everywhere since all
/// apply the same c. `scratch` holds the decompressed c when momentum needs it dense.
void apply_update(const compressed_message& c, float lr, momentum* mom, Eigen::VectorXf& x,
                  Eigen::VectorXf& scratch);

/// Step 4 for one shard's slice update in a sharded run (--servers=K): c updates the
/// coordinates [begin, begin + c.dimension()) of the full replica x (and of the momentum buffer,
/// which spans all of x). The same arithmetic as apply_update() on that slice alone, so a
/// replica that applies the K slices of a version equals, bit for bit, each shard's engine
/// applying its own. Throws std::invalid_argument if the slice does not fit x.
void apply_update_slice(const compressed_message& c, std::size_t begin, float lr, momentum* mom,
                        Eigen::VectorXf& x, Eigen::VectorXf& scratch);

/// A 64-bit digest of the bits of x (never 0): replicas that apply the same updates are equal
/// bit for bit, so equal digests are what a healthy run shows.
std::uint64_t replica_digest(const Eigen::VectorXf& x);
/// replica_digest() of the coordinates `x` (a key range of a sharded run's replica).
std::uint64_t replica_digest(std::span<const float> x);

} // namespace dsq
