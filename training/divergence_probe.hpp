#pragma once

// Tells a run that blows up from a worker that misbehaves. A push over the norm bound or with
// values that are not finite (push_check.hpp), or one that reports a loss that is not finite,
// comes either from a bad worker or from a model that diverges, whose honest gradients overflow.
// The worker's word cannot decide which: its reported loss is as untrusted as its push, and a
// bad worker reporting NaN would end any run. The server's own model can: the loss of a fixed
// set of training samples, against the same loss of the run's initial model x_0. A model far
// worse than its random start has diverged; one that is not makes the push the worker's fault.

#include "model/dataset.hpp"
#include "model/model.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace dsq {

/// How many training samples the probe holds (all of a smaller set), spread over the set.
inline constexpr std::size_t probe_samples = 256;

/// A model whose probe loss is more than this many times that of x_0 has diverged: the loss of a
/// model that learned nothing is about x_0's, and training only lowers it.
inline constexpr double probe_loss_factor = 10;

/// A run whose evaluated test loss is more than this many times the probe's loss of x_0 has
/// diverged, whatever the pushes' checks said: pushes that pass every check can still wreck the
/// model (issue 29: +10 sign pushes took a test loss from 2.3 to 7e6). Far above any loss a
/// healthy run evaluates (the reproduce runs stay below 2.5, x_0 is about 2.3); the rule of bad
/// pushes (probe_loss_factor) is stricter because it only decides whom to blame. Applied to
/// every run (server_core::evaluated): a run that diverged never reports success.
inline constexpr double evaluated_loss_factor = 1000;

class divergence_probe {
public:
  /// Takes probe_samples samples of `train`, evenly spaced; x_0 is `net` initialized with
  /// `seed`, as update_engine does it. Costs no model evaluation until a question is asked.
  divergence_probe(std::shared_ptr<const model> net, const dataset& train, std::uint64_t seed);

  /// How many samples the probe holds.
  std::size_t samples() const { return y_.size(); }

  /// The mean loss of the probe's samples under `x`.
  double loss(const Eigen::VectorXf& x) const;

  /// The probe's loss under x_0 (computed once, on the first call).
  double initial_loss() const;

  /// True if `probe_loss` (a loss() of the model in question) is not finite or more than
  /// probe_loss_factor times initial_loss().
  bool diverged(double probe_loss) const;

  /// True if an evaluated test loss `test_loss` is not finite or more than
  /// evaluated_loss_factor times initial_loss().
  bool evaluation_diverged(double test_loss) const;

private:
  std::shared_ptr<const model> net_;
  std::uint64_t seed_;
  Eigen::MatrixXf x_;
  std::vector<std::int32_t> y_;
  mutable std::optional<double> initial_;
};

} // namespace dsq
