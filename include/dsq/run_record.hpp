#pragma once

// The record of a run as a program reads it: one row per step (what --metrics writes, what a
// run_observer sees) and the totals (what --summary writes, what a run returns).

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// The value of a column or field that was not measured (a step that was not evaluated, a run
/// without a target): a quiet NaN, written empty in the metrics and null in the summary.
inline constexpr double not_measured = std::numeric_limits<double>::quiet_NaN();

/// One update, in either mode. Row `step` = s describes the update that produced x_s: train_loss
/// is the mean minibatch loss of the pushes it applied; the test columns, when the step was
/// evaluated, describe x_s. Row 0 holds the evaluation of the initial model.
struct step_record {
  std::uint64_t step = 0;
  double wall_s = 0;
  double train_loss = not_measured;
  double test_loss = not_measured;
  double test_accuracy = not_measured;
  std::uint64_t bytes_up = 0;   ///< serialized pushes of this step, summed over workers
  std::uint64_t bytes_down = 0; ///< serialized update times the workers it was sent to
  std::uint32_t workers = 0;    ///< workers that contributed to this step
  double lr = 0;
  std::uint64_t total_bytes_up = 0;   ///< bytes_up of this and every earlier row
  std::uint64_t total_bytes_down = 0; ///< bytes_down of this and every earlier row
  std::uint32_t pushes = 0;           ///< pushes applied by this update (sync: workers; async: 1)
  std::uint64_t staleness = 0;        ///< the largest staleness among them (0 in sync mode)
  /// With --servers=K > 1: entry k is shard k's part of bytes_up and bytes_down (then their
  /// sums over the shards); empty for K = 1.
  std::vector<std::uint64_t> shard_bytes_up, shard_bytes_down;
  /// The test columns hold an evaluation (possibly nan); set by run_log::set_evaluation.
  bool evaluated = false;
};

/// What --summary writes.
struct run_summary {
  /// The method preset, the operator specs of each pass, the model and data set specs, sync or
  /// async (docs/usage.md, "The summary", defines every field).
  std::string method, uplink, downlink, model, dataset, mode;
  std::string simd; ///< the server's SIMD level (base/simd): each worker process picks its own
  std::string aggregate = "mean"; ///< --aggregate, as the server applied it
  /// Workers that trained, versions made, the model's parameter count, the run's seed.
  std::uint64_t workers = 0, steps = 0, parameters = 0, seed = 0;
  /// The final model's loss on the whole training set, its test loss and accuracy (a fraction).
  double final_train_loss = not_measured, test_loss = not_measured, test_accuracy = not_measured;
  /// Serialized bytes of every push and of every update times the workers it went to.
  std::uint64_t bytes_up = 0, bytes_down = 0;
  /// Wall seconds of training, and versions per second.
  double wall_s = 0, steps_per_s = 0;
  /// Seconds from this process's start to its first applied step (not measured: none made).
  double startup_s = not_measured;
  /// Workers that joined and left mid-run, pushes ignored (late or duplicate), replica checks.
  std::uint64_t joins = 0, departures = 0, ignored_pushes = 0, verified_replicas = 0;
  std::uint64_t rejected_pushes = 0; ///< pushes that failed validation (their worker removed)
  std::uint64_t timeouts = 0;        ///< workers removed for silence (--worker-timeout)
  std::uint64_t worker_failures = 0; ///< workers that left because they could not go on
  // -- recovery (net/PROTOCOL.md, "Faults") -----------------------------------------------------
  std::uint64_t retransmissions = 0;  ///< pushes, updates and grants that had to be sent again
  std::uint64_t resyncs = 0;          ///< workers brought back with the full model
  std::uint64_t floods_expelled = 0;  ///< workers expelled for asking too much to be sent again
  std::uint64_t returned_workers = 0; ///< workers that came back with their identity and state
  std::uint64_t residuals_lost = 0;   ///< members that left mid-run, taking their residual along
  std::map<std::string, std::uint64_t> faults_injected; ///< {kind: count} (--faults.*)
  // -- staleness (async mode; zeros in sync) --------------------------------------------------
  std::int64_t staleness_bound = -1;              ///< τ, or -1 in sync mode (written as null)
  std::uint64_t pushes_applied = 0;               ///< pushes the server applied
  std::uint64_t max_staleness = 0;                ///< the largest staleness among them
  double mean_staleness = 0;                      ///< their mean staleness
  std::vector<std::uint64_t> staleness_histogram; ///< entry s: applied pushes with staleness s
  std::uint64_t admission_waits = 0; ///< times a worker waited for permission to compute
  double admission_wait_s = 0;       ///< their total wait
  std::uint64_t held_pushes = 0;     ///< pushes held back until the bound allowed them
  // -- --target-accuracy ------------------------------------------------------------------------
  double target_accuracy = not_measured;  ///< NaN: no target
  bool reached_target = false;            ///< an evaluation reached target_accuracy
  double time_to_target_s = not_measured; ///< wall seconds from the start of training
  bool completed = true;                  ///< written false when diverged
  bool diverged = false; ///< the model became non-finite (the server stopped the run)
  std::optional<std::uint64_t> diverged_at_step; ///< the first non-finite step, if diverged
  std::string note; ///< why the run ended early or how it was stopped, if it was
  // -- sharded runs (--servers=K; written only when K > 1) -----------------------------------
  std::uint32_t shards = 1; ///< K, the parameter-server shards
  /// Entry k: shard k's part of bytes_up (the slice pushes it applied) and of bytes_down (its
  /// slice updates times the workers they went to); bytes_up and bytes_down are their sums.
  std::vector<std::uint64_t> shard_bytes_up, shard_bytes_down;
};

} // namespace dsq
