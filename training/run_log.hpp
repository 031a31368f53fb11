#pragma once

// The record of a run: one row per step for --metrics (CSV) and the totals for --summary (JSON).
// Plain C++: the parameter server fills it, tests read it. Every write is checked
// (training/output_file.hpp): a run whose record cannot be written fails with that error.

#include "training/output_file.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

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
  /// The test columns hold an evaluation (possibly nan); set by run_log::set_evaluation.
  bool evaluated = false;
};

/// Which rows a run_log holds in memory once they are written (rows()).
enum class row_memory {
  last, ///< the last run_log::kept_rows: a long run's record is its metrics file
  all,  ///< every row: for tests that read the rows of a long run
};

/// Where a resumed run continues an existing metrics file: rows of this step and later (written
/// after the checkpoint was taken) are removed, and the resumed run writes them anew.
struct append_at_step {
  std::uint64_t step = 0;
};

/// The rows of a run and their CSV file. Memory holds the last rows only (rows()): a long run's
/// record is its file, not the process's memory. In the file a non-finite value is written `nan`,
/// `inf` or `-inf`; an empty cell means only "not measured": the test columns of a step that was
/// not evaluated, and the training loss of a row without pushes (the initial or resumed model).
class run_log {
public:
  /// Opens `metrics_path` (if not empty) right away, truncating it and writing the header, so
  /// that a bad path fails before training. Throws std::runtime_error naming file and reason.
  explicit run_log(const std::string& metrics_path);

  /// Continues the metrics file of a resumed run (--resume): checks that its header is the one
  /// this version writes, cuts the rows from `from.step` on (and a last line left incomplete by
  /// a crash), and appends. A missing or empty file is started as the constructor above does.
  /// Throws std::runtime_error naming the file and the problem.
  run_log(const std::string& metrics_path, append_at_step from);

  /// Appends a row; `awaiting_evaluation` holds it back from the file until set_evaluation.
  void record(const step_record& row, bool awaiting_evaluation);

  /// Fills in the test columns of row `step`; returns that row (nullptr if there is none),
  /// valid until the next flush(), which may drop it from memory once it is written.
  const step_record* set_evaluation(std::uint64_t step, double test_loss, double test_accuracy);

  /// Writes every row that is no longer waiting for its evaluation (all of them if `all`, and
  /// then syncs the file to disk). Rows reach the OS at least once a second. Throws
  /// std::runtime_error naming the file and the OS's reason when a write fails; once failed,
  /// every later call throws the same error, so a failed record is never reported as written.
  void flush(bool all = false);

  /// Hands every row that is no longer waiting for its evaluation to the OS now (no fsync): a
  /// checkpoint is written after it, so that a killed process leaves no gap before the step a
  /// resumed run continues from. Throws like flush().
  void hand_over();

  /// Written rows kept in memory (rows()) under row_memory::last; about 1 MB of them.
  static constexpr std::size_t kept_rows = 10000;

  /// Which rows rows() holds from now on (row_memory::last unless told).
  void keep(row_memory which) { memory_ = which; }

  /// The rows recorded, in step order. Under row_memory::last: every row not yet written, and
  /// the written ones before them up to kept_rows rows in all.
  std::vector<step_record> rows() const { return {rows_.begin(), rows_.end()}; }
  std::uint64_t bytes_up() const { return bytes_up_; }
  std::uint64_t bytes_down() const { return bytes_down_; }

  /// Latest row with test columns, or nullptr.
  const step_record* last_evaluated() const;

private:
  void write_pending(bool sync);
  void note_evaluated(const step_record& row);

  output_file csv_;
  std::string pending_;          ///< formatted rows not yet handed to the OS
  std::string failure_;          ///< the first write error; sticky
  std::deque<step_record> rows_; ///< the last rows (see rows())
  std::deque<bool> waiting_;     ///< per row of rows_: held back for its evaluation
  std::size_t written_ = 0;      ///< rows_[0, written_) are in the file (or have no file)
  std::optional<step_record> last_evaluated_;
  row_memory memory_ = row_memory::last;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::uint64_t bytes_up_ = 0;
  std::uint64_t bytes_down_ = 0;
};

/// What --summary writes.
struct run_summary {
  std::string method, uplink, downlink, model, dataset, mode;
  std::string simd; ///< the server's SIMD level (base/simd): each worker process picks its own
  std::string aggregate = "mean"; ///< --aggregate, as the server applied it
  std::uint64_t workers = 0, steps = 0, parameters = 0, seed = 0;
  double final_train_loss = not_measured, test_loss = not_measured, test_accuracy = not_measured;
  std::uint64_t bytes_up = 0, bytes_down = 0;
  double wall_s = 0, steps_per_s = 0;
  /// Seconds from this process's start to its first applied step (not measured: none made).
  double startup_s = not_measured;
  std::uint64_t joins = 0, departures = 0, ignored_pushes = 0, verified_replicas = 0;
  std::uint64_t rejected_pushes = 0; ///< pushes that failed validation (their worker removed)
  std::uint64_t timeouts = 0;        ///< workers removed for silence (--worker-timeout)
  // -- recovery (net/PROTOCOL.md, "Faults") -----------------------------------------------------
  std::uint64_t retransmissions = 0;  ///< pushes, updates and grants that had to be sent again
  std::uint64_t resyncs = 0;          ///< workers brought back with the full model
  std::uint64_t returned_workers = 0; ///< workers that came back with their identity and state
  std::uint64_t residuals_lost = 0;   ///< members that left mid-run, taking their residual along
  std::map<std::string, std::uint64_t> faults_injected; ///< {kind: count} (--faults.*)
  // -- staleness (async mode; zeros in sync) --------------------------------------------------
  std::int64_t staleness_bound = -1; ///< τ, or -1 in sync mode (written as null)
  std::uint64_t pushes_applied = 0;
  std::uint64_t max_staleness = 0;
  double mean_staleness = 0;
  std::vector<std::uint64_t> staleness_histogram; ///< entry s: applied pushes with staleness s
  std::uint64_t admission_waits = 0; ///< times a worker waited for permission to compute
  double admission_wait_s = 0;       ///< their total wait
  std::uint64_t held_pushes = 0;     ///< pushes held back until the bound allowed them
  // -- --target-accuracy ------------------------------------------------------------------------
  double target_accuracy = not_measured; ///< NaN: no target
  bool reached_target = false;
  double time_to_target_s = not_measured; ///< wall seconds from the start of training
  bool completed = true;                  ///< written false when diverged
  bool diverged = false; ///< the model became non-finite (the server stopped the run)
  std::optional<std::uint64_t> diverged_at_step; ///< the first non-finite step, if diverged
  std::string note;
};

/// Throws std::runtime_error "cannot write <what> file '<path>': <reason>" unless `path` can be
/// written; leaves no file behind that was not there before.
void check_writable(const std::string& path, const char* what);

/// Writes `s` as a JSON object to `path` atomically (training/output_file.hpp); non-finite
/// numbers are null, diverged_at_step is null unless diverged. Throws std::runtime_error naming
/// the file and the reason when it cannot be written.
void write_summary(const std::string& path, const run_summary& s);

} // namespace dsq
