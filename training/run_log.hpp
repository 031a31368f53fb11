#pragma once

// The record of a run: one row per step for --metrics (CSV) and the totals for --summary (JSON).
// Plain C++: the parameter server fills it, tests read it.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
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
  std::uint32_t pushes = 0;    ///< pushes applied by this update (sync: workers; async: 1)
  std::uint64_t staleness = 0; ///< the largest staleness among them (0 in sync mode)
};

class run_log {
public:
  /// Opens `metrics_path` (if not empty) right away, so that a bad path fails before training.
  explicit run_log(const std::string& metrics_path);

  /// Appends a row; `awaiting_evaluation` holds it back from the file until set_evaluation.
  void record(const step_record& row, bool awaiting_evaluation);

  /// Fills in the test columns of row `step`; returns that row (nullptr if there is none).
  const step_record* set_evaluation(std::uint64_t step, double test_loss, double test_accuracy);

  /// Writes every row that is no longer waiting for its evaluation (all of them if `all`).
  void flush(bool all = false);

  const std::vector<step_record>& rows() const { return rows_; }
  std::uint64_t bytes_up() const { return bytes_up_; }
  std::uint64_t bytes_down() const { return bytes_down_; }

  /// Latest row with test columns, or nullptr.
  const step_record* last_evaluated() const;

private:
  std::ofstream csv_;
  std::vector<step_record> rows_;
  std::vector<bool> waiting_;
  std::size_t written_ = 0;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::uint64_t bytes_up_ = 0;
  std::uint64_t bytes_down_ = 0;
};

/// What --summary writes.
struct run_summary {
  std::string method, uplink, downlink, model, dataset, mode;
  std::uint64_t workers = 0, steps = 0, parameters = 0, seed = 0;
  double final_train_loss = not_measured, test_loss = not_measured, test_accuracy = not_measured;
  std::uint64_t bytes_up = 0, bytes_down = 0;
  double wall_s = 0, steps_per_s = 0;
  std::uint64_t joins = 0, departures = 0, ignored_pushes = 0, verified_replicas = 0;
  bool completed = true;
  std::string note;
};

/// Throws std::runtime_error "cannot write <what> file '<path>'" unless `path` can be written;
/// leaves no file behind that was not there before.
void check_writable(const std::string& path, const char* what);

/// Writes `s` as a JSON object to `path` (write to a temporary file, then rename).
void write_summary(const std::string& path, const run_summary& s);

} // namespace dsq
