#pragma once

// What a run tells its user: the metrics rows (through run_log), the counters and staleness
// statistics that end up in the summary, and the console lines. The parameter server reports
// events here and never formats anything itself.

#include "training/run_log.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dsq {

class run_reporter {
public:
  /// Where console lines go: each line without its newline.
  using line_sink = std::function<void(std::string_view line)>;

  /// Rows go to `log`; console lines only if `verbose`, to `lines` (empty: stdout, flushed at
  /// each line). The run ends at version `total_steps`.
  run_reporter(std::shared_ptr<run_log> log, bool verbose, std::uint64_t total_steps,
               line_sink lines = {});

  using time_point = std::chrono::steady_clock::time_point;

  /// Training starts (or resumes) at `version`: the clock and steps/s count from here.
  void start(std::uint64_t version);
  double elapsed() const;

  /// Appends a row (held back from the file until its evaluation if `awaiting_evaluation`).
  void record(const step_record& row, bool awaiting_evaluation);

  /// The test columns of row `step` arrived: fills them in and prints the progress line.
  /// Returns a copy of that row (none if there is none): writing it may drop it from memory.
  std::optional<step_record> evaluated(std::uint64_t step, double test_loss, double test_accuracy);

  /// The run is at `version` at `now`: prints a progress line (steps, steps/s, ETA) if the last
  /// one is `progress_period` old, so that a run says where it is every few seconds also
  /// between evaluations (and with --eval-every=0). Rates count from the first call after
  /// start(). Returns the line printed, if any.
  std::optional<std::string> progress(std::uint64_t version, time_point now);

  /// How often progress() prints at most.
  static constexpr std::chrono::seconds progress_period{5};

  /// A sharded run (--servers=K, K > 1): the rows recorded from now on carry every shard's
  /// bytes, the followers' given by shard_bytes (run_log::expect_shards). Throws
  /// std::logic_error when the log's file was opened for another K.
  void count_shards(std::uint32_t shards);
  /// Follower `shard`'s bytes of row `step` (protocol 10's slice_traffic); writes the rows it
  /// completes. Throws like record().
  void shard_bytes(std::uint64_t step, std::uint32_t shard, std::uint64_t up, std::uint64_t down);

  /// A push with staleness `s` was applied.
  void applied_push(std::uint64_t staleness);

  /// Counters and statistics so far; the server adds its own fields before writing it.
  run_summary& totals() { return totals_; }
  const run_log& log() const { return *log_; }
  run_log& log() { return *log_; }

  /// Writes every row, fills the summary's traffic, steps, timing and staleness fields.
  run_summary finish(std::uint64_t version);

  // -- console lines (only when verbose) ------------------------------------------------------
  void say(const std::string& line) const;
  void print_done(const run_summary& s, std::size_t dim) const;

private:
  void put(std::string_view line) const;

  std::shared_ptr<run_log> log_;
  bool verbose_;
  std::uint32_t shards_ = 1; ///< count_shards
  line_sink lines_;
  std::uint64_t total_steps_;
  std::uint64_t first_version_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  /// Where progress() counts from (version and time of its first call after start()), and
  /// when it last printed.
  std::optional<std::pair<std::uint64_t, time_point>> progress_from_;
  time_point progress_said_{};
  run_summary totals_;
  long double staleness_sum_ = 0;
};

/// "42 s", "3 min 05 s", "2 h 07 min": a remaining time for people.
std::string human_duration(double seconds);

/// "1.2 MB", "3.45 GB": traffic for people.
std::string human_bytes(std::uint64_t bytes);

} // namespace dsq
