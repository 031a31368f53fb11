#pragma once

// What a push must be before it may touch the model: the run's uplink operator with its
// parameters, the model's dimension, finite values, and a norm within bound. Pushes come from
// the network, so each of these is checked, not assumed (issue: "nothing untrusted gets in").

#include "compression/compressed_message.hpp"
#include "training/sliding_median.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

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

class push_check {
public:
  /// Pushes must be encoded by `uplink_spec` (e.g. "sign:block=4096") for `dim` coordinates.
  /// `max_norm` > 0 bounds ‖C[v]‖₂ absolutely; 0 picks the automatic bound (see accept()).
  push_check(const std::string& uplink_spec, std::size_t dim, double max_norm);

  /// Decodes `bytes` and checks them; throws push_rejected naming the problem. On success the
  /// push's norm joins the history of the automatic bound.
  compressed_message accept(std::span<const std::uint8_t> bytes);

  /// The norm bound in force now.
  double bound() const;

private:
  /// ‖C[v]‖₂ of a decoded push; throws push_rejected if any value is not finite.
  double finite_norm(const compressed_message& c);

  compressed_message reference_; ///< what the uplink operator makes of a vector of this size
  std::size_t dim_;
  double max_norm_;
  Eigen::VectorXf dense_;
  sliding_median<double, 64> recent_; ///< norms of the latest accepted pushes
};

/// The automatic bound: an honest push is C[g + δ] for a minibatch gradient g, whose norm moves
/// slowly over a run; 10⁴ times the median of the last 64 accepted norms leaves room for honest
/// spikes (and for a run that slowly blows up, which then ends as diverged) and none for a push
/// of 1e30. A single worker of many cannot move a median. Before 8 pushes have been accepted, and
/// while the median is 0 (zero pushes say nothing about the scale of gradients): 1e8.
inline constexpr double push_norm_factor = 1e4;
inline constexpr double push_norm_cold_bound = 1e8;

} // namespace dsq
