#pragma once

// What a push must be before it may touch the model: the run's uplink operator with its
// parameters, the model's dimension, finite values, and a norm within bound. Pushes come from
// the network, so each of these is checked, not assumed (issue: "nothing untrusted gets in").

#include "compression/compressed_message.hpp"
#include "training/sliding_median.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace dsq {

/// Why a push was refused; the server removes its worker.
class push_rejected : public std::runtime_error {
public:
  /// What was wrong with it.
  enum class reason { corrupt, operator_mismatch, dimension, not_finite, norm };

  push_rejected(reason why, const std::string& what) : std::runtime_error(what), why_(why) {}

  reason why() const { return why_; }

private:
  reason why_;
};

/// How many norms of the latest pushes taken the automatic bound looks at.
inline constexpr std::size_t push_norm_window = 64;

/// True for a value the automatic bound's history may hold: a norm, finite and not negative.
inline bool is_push_norm(double n) {
  return std::isfinite(n) && n >= 0;
}

class push_check {
public:
  /// Pushes must be encoded by `uplink_spec` (e.g. "sign:block=4096") for `dim` coordinates.
  /// `max_norm` > 0 bounds ‖C[v]‖₂ absolutely; 0 picks the automatic bound (see accept()).
  push_check(const std::string& uplink_spec, std::size_t dim, double max_norm);

  /// A push that passed every check, and its norm ‖C[v]‖₂.
  struct checked {
    compressed_message message;
    double norm;
  };

  /// Decodes `bytes` and checks them against the bound in force; throws push_rejected naming
  /// the problem. The bound does not change: record() the norm once the push is taken (a push
  /// that comes too late or too early says nothing about the run's gradients).
  checked check(std::span<const std::uint8_t> bytes);

  /// Counts the norm of a push that was taken in the history of the automatic bound.
  void record(double norm);

  /// check() and record() in one, for a caller that takes every push that passes.
  compressed_message accept(std::span<const std::uint8_t> bytes);

  /// The norm bound in force now.
  double bound() const;

  /// The norms the automatic bound is made of (the latest pushes recorded, oldest first), for
  /// the server's checkpoint.
  std::vector<double> recent_norms() const { return recent_.in_arrival_order(); }

  /// The largest median the history has had (0 before it had one): what the automatic bound
  /// scales, kept for the server's checkpoint.
  double peak_median() const { return peak_; }

  /// Continues the automatic bound from `norms` (recent_norms() of the run resumed) and `peak`
  /// (its peak_median(); 0 for a checkpoint written before it was kept, which then takes the
  /// median of `norms`), so that a restarted server does not fall back to the cold bound. Throws
  /// std::invalid_argument for a norm or peak that is negative or not finite.
  void restore_norms(std::span<const double> norms, double peak);

private:
  /// ‖C[v]‖₂ of a decoded push; throws push_rejected if any value is not finite.
  double finite_norm(const compressed_message& c);

  /// Raises the peak to the current window's median, once the window counts.
  void raise_peak();

  compressed_message reference_; ///< what the uplink operator makes of a vector of this size
  std::size_t dim_;
  double max_norm_;
  Eigen::VectorXf dense_;
  sliding_median<double, push_norm_window> recent_; ///< norms of the latest pushes recorded
  double peak_ = 0; ///< the largest median of recent_ once it held push_norm_warm norms
};

/// The automatic bound: 10⁴ times the largest median that the last 64 norms recorded have had in
/// the run. An honest push is C[g + δ] for a minibatch gradient g. Its norm can fall by orders of
/// magnitude as a model fits its data (a separable data set drives most minibatch gradients
/// towards 0) and still jump back to the scale of the first steps on a minibatch that is not
/// fitted yet, so the bound scales with the largest typical norm seen, not the current one: the
/// current median shrank the bound below such a push and ended healthy runs as diverged. That
/// leaves room for honest spikes (and for a run that slowly blows up, which then ends as
/// diverged) and none for a push of 1e30. A single worker of many cannot move a median. Until
/// the median of at least 8 norms has been positive (zero pushes say nothing about the scale of
/// gradients): 1e8.
inline constexpr double push_norm_factor = 1e4;
inline constexpr double push_norm_cold_bound = 1e8;
/// How many norms the history needs before its median counts.
inline constexpr std::size_t push_norm_warm = 8;

} // namespace dsq
