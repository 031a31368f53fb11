#include "training/run_reporter.hpp"

#include "base/process_clock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dsq {

std::string human_bytes(std::uint64_t bytes) {
  auto b = static_cast<double>(bytes);
  if (b >= 1e9)
    return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6)
    return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

run_reporter::run_reporter(std::shared_ptr<run_log> log, bool verbose, std::uint64_t total_steps,
                           line_sink lines)
    : log_(log ? std::move(log) : std::make_shared<run_log>(std::string{})), verbose_(verbose),
      lines_(std::move(lines)), total_steps_(total_steps) {}

void run_reporter::put(std::string_view line) const {
  if (lines_) {
    lines_(line);
    return;
  }
  fmt::print("{}\n", line);
  std::fflush(stdout);
}

std::string human_duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::llround(std::max(0.0, seconds)));
  if (s < 60)
    return fmt::format("{} s", s);
  if (s < 3600)
    return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} h {:02} min", s / 3600, s / 60 % 60);
}

void run_reporter::start(std::uint64_t version) {
  first_version_ = version;
  progress_from_.reset();
  start_ = std::chrono::steady_clock::now();
}

double run_reporter::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

namespace {

/// A loss for the progress lines: 4 decimals, or 4 significant digits for the huge losses of a
/// run that blows up (not 37 digits before the point).
std::string loss_text(double v) {
  return std::abs(v) < 1e5 ? fmt::format("{:.4f}", v) : fmt::format("{:.4g}", v);
}

} // namespace

void run_reporter::record(const step_record& row, bool awaiting_evaluation) {
  // The first step this process applied: how long the run took to start (docs/usage.md).
  if (std::isnan(totals_.startup_s) && row.step > first_version_)
    totals_.startup_s = seconds_since_process_start();
  log_->record(row, awaiting_evaluation);
  log_->flush();
}

void run_reporter::count_shards(std::uint32_t shards) {
  shards_ = shards;
  log_->expect_shards(shards);
}

void run_reporter::shard_bytes(std::uint64_t step, std::uint32_t shard, std::uint64_t up,
                               std::uint64_t down) {
  log_->set_shard_bytes(step, shard, up, down);
  log_->flush();
}

std::optional<step_record> run_reporter::evaluated(std::uint64_t step, double test_loss,
                                                   double test_accuracy) {
  std::optional<step_record> row;
  if (const auto* kept = log_->set_evaluation(step, test_loss, test_accuracy))
    row = *kept;
  log_->flush(); // may drop the row from memory (run_log::rows())
  if (!row || !verbose_)
    return row;
  auto train = std::isnan(row->train_loss) ? std::string{"  -   "} : loss_text(row->train_loss);
  // Sharded: the rows' totals count a follower's bytes once they arrived (in practice before
  // the evaluation of their step); the line says the traffic of every shard known so far.
  const auto up = shards_ > 1 ? log_->all_bytes_up() : row->total_bytes_up;
  const auto down = shards_ > 1 ? log_->all_bytes_down() : row->total_bytes_down;
  put(fmt::format("step {:>6}/{}  batch_loss {}  test_loss {}  test_acc {:.2f}%  up {}  down {}  "
                  "{:.1f} steps/s  workers {}",
                  row->step, total_steps_, train, loss_text(row->test_loss),
                  100 * row->test_accuracy, human_bytes(up), human_bytes(down),
                  row->wall_s > 0 ? static_cast<double>(row->step - first_version_) / row->wall_s
                                  : 0.0,
                  row->workers));
  return row;
}

std::optional<std::string> run_reporter::progress(std::uint64_t version, time_point now) {
  if (!verbose_)
    return std::nullopt;
  if (!progress_from_) {
    progress_from_.emplace(version, now);
    progress_said_ = now;
    return std::nullopt;
  }
  if (now - progress_said_ < progress_period)
    return std::nullopt;
  progress_said_ = now;
  const auto [from, since] = *progress_from_;
  const double seconds = std::chrono::duration<double>(now - since).count();
  const double rate = seconds > 0 ? static_cast<double>(version - from) / seconds : 0.0;
  const auto left = total_steps_ > version ? total_steps_ - version : 0;
  auto line = fmt::format("step {:>6}/{}  {:.1f} steps/s  ETA {}", version, total_steps_, rate,
                          rate > 0 ? human_duration(static_cast<double>(left) / rate)
                                   : std::string{"unknown"});
  put(line);
  return line;
}

void run_reporter::applied_push(std::uint64_t staleness) {
  auto& h = totals_.staleness_histogram;
  if (h.size() <= staleness)
    h.resize(staleness + 1, 0);
  ++h[staleness];
  ++totals_.pushes_applied;
  totals_.max_staleness = std::max(totals_.max_staleness, staleness);
  staleness_sum_ += staleness;
}

run_summary run_reporter::finish(std::uint64_t version) {
  log_->flush(true);
  run_summary s = totals_;
  s.steps = version;
  s.bytes_up = log_->bytes_up();
  s.bytes_down = log_->bytes_down();
  s.wall_s = elapsed();
  s.steps_per_s = s.wall_s > 0 ? static_cast<double>(version - first_version_) / s.wall_s : 0;
  s.mean_staleness =
      s.pushes_applied > 0 ? static_cast<double>(staleness_sum_ / s.pushes_applied) : 0.0;
  if (auto last = log_->last_evaluated()) {
    s.test_loss = last->test_loss;
    s.test_accuracy = last->test_accuracy;
  }
  return s;
}

void run_reporter::say(const std::string& line) const {
  if (!verbose_)
    return;
  put(line);
}

void run_reporter::print_done(const run_summary& s, std::size_t dim) const {
  if (!verbose_)
    return;
  // A run stopped before its end (a signal; the server's note says "stopped at step N of M")
  // says so where a finished run says "done:".
  const bool stopped = !s.completed && s.note.rfind("stopped at step ", 0) == 0;
  const auto head = stopped ? s.note + ":" : std::string{"done:"};
  if (s.pushes_applied == 0 && std::isnan(s.test_loss)) {
    // Stopped before training started: there is no loss or accuracy to show.
    put(fmt::format("{} no step made in {:.1f} s{}", head, s.wall_s,
                    s.note.empty() || stopped ? std::string{} : " (" + s.note + ")"));
    return;
  }
  // What the same pushes would have cost in fp32: the saving compression buys.
  const double dense_bytes = 4.0 * static_cast<double>(dim) * static_cast<double>(s.pushes_applied);
  auto line = fmt::format(
      "{} {} steps in {:.1f} s ({:.1f} steps/s), train_loss (full set) {}, test_loss "
      "{}, test_acc {:.2f}%, traffic up {} down {}",
      head, s.steps, s.wall_s, s.steps_per_s, loss_text(s.final_train_loss), loss_text(s.test_loss),
      100 * s.test_accuracy, human_bytes(s.bytes_up), human_bytes(s.bytes_down));
  if (s.bytes_up > 0)
    line += fmt::format(" ({:.1f}x less than fp32 uplink)",
                        dense_bytes / static_cast<double>(s.bytes_up));
  put(line);
}

} // namespace dsq
