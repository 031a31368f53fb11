#pragma once

// The record of a run: one row per step for --metrics (CSV) and the totals for --summary (JSON).
// Plain C++: the parameter server fills it, tests read it. Every write is checked
// (training/output_file.hpp): a run whose record cannot be written fails with that error.

#include "training/output_file.hpp"

// step_record, run_summary and not_measured moved to the public header.
#include <dsq/run_record.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

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
  /// With `shards` = K > 1 (--servers=K) the header has K columns more per direction
  /// (metrics_header) and rows wait for every shard's bytes (expect_shards).
  explicit run_log(const std::string& metrics_path, std::uint32_t shards = 1);

  /// Continues the metrics file of a resumed run (--resume): checks that its header is the one
  /// this version writes, cuts the rows from `from.step` on (and a last line left incomplete by
  /// a crash), and appends. A missing or empty file is started as the constructor above does.
  /// Throws std::runtime_error naming the file and the problem.
  run_log(const std::string& metrics_path, append_at_step from, std::uint32_t shards = 1);

  // -- sharded runs (--servers=K > 1) -----------------------------------------------------------

  /// The rows recorded from now on come from shard 0 of K: each carries shard_bytes_up/down
  /// (entry 0 its own bytes_up/bytes_down) and is held back from the file until
  /// set_shard_bytes gave shards 1..K−1 (a row without pushes, the initial model's, has
  /// nothing to wait for). Throws std::logic_error after a row was recorded, or
  /// when the file's header was written for another K.
  void expect_shards(std::uint32_t shards);
  /// Shard `shard`'s bytes of row `step`: added to the row's sums; a row no longer held, a
  /// shard out of range or given before is ignored.
  void set_shard_bytes(std::uint64_t step, std::uint32_t shard, std::uint64_t up,
                       std::uint64_t down);
  /// Every byte recorded so far, the followers' included (bytes_up() is shard 0's).
  std::uint64_t all_bytes_up() const { return all_bytes_up_; }
  std::uint64_t all_bytes_down() const { return all_bytes_down_; }

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

  /// Hands `sink` every row once it is final, in step order: when it is written (a row awaiting
  /// its evaluation once that is in, with its test columns). The run's observer (run_observer).
  void on_final(std::function<void(const step_record&)> sink) { on_final_ = std::move(sink); }

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
  std::uint32_t shards_ = 1;     ///< expect_shards
  /// Per row of rows_ (K > 1): which shards' bytes are in; the row waits until all are.
  std::deque<std::vector<bool>> shard_in_;
  std::uint64_t written_bytes_up_ = 0, written_bytes_down_ = 0; ///< K > 1: totals as written
  std::uint64_t all_bytes_up_ = 0, all_bytes_down_ = 0;
  std::size_t written_ = 0; ///< rows_[0, written_) are in the file (or have no file)
  std::optional<step_record> last_evaluated_;
  row_memory memory_ = row_memory::last;
  std::function<void(const step_record&)> on_final_;
  std::chrono::steady_clock::time_point last_sync_ = std::chrono::steady_clock::now();
  std::uint64_t bytes_up_ = 0;
  std::uint64_t bytes_down_ = 0;
};

/// Throws std::runtime_error "cannot write <what> file '<path>': <reason>" unless `path` can be
/// written; leaves no file behind that was not there before.
void check_writable(const std::string& path, const char* what);

/// Writes `s` as a JSON object to `path` atomically (training/output_file.hpp); non-finite
/// numbers are null, diverged_at_step is null unless diverged. Throws std::runtime_error naming
/// the file and the reason when it cannot be written.
void write_summary(const std::string& path, const run_summary& s);

/// The first line of a metrics file of `shards` shards: the columns of docs/usage.md, and with
/// K > 1 `bytes_up_0..bytes_up_{K−1}` and `bytes_down_0..` after them (with its newline).
std::string metrics_header(std::uint32_t shards);

} // namespace dsq
