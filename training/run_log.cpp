#include "training/run_log.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace dsq {

namespace {

constexpr const char* unsharded_header = "step,wall_s,train_loss,test_loss,test_accuracy,bytes_up,"
                                         "bytes_down,workers,lr,pushes,staleness\n";

/// Appends a measured value: non-finite ones are spelled out (a NaN's sign is dropped: "-nan"
/// is noise).
void append_number(std::string& out, double x) {
  if (std::isnan(x))
    out += "nan";
  else
    fmt::format_to(std::back_inserter(out), FMT_COMPILE("{:.6g}"), x);
}

/// Appends a value that may not have been measured: nothing then, and only then.
void append_cell(std::string& out, double x, bool measured) {
  if (measured)
    append_number(out, x);
}

std::string json_number(double x) {
  return std::isfinite(x) ? fmt::format("{:.8g}", x) : std::string{"null"};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += c;
  }
  return out + "\"";
}

/// Appends the bytes of `shards` cells: the value where `in`, else nothing (not measured).
void append_shard_cells(std::string& out, const std::vector<std::uint64_t>& bytes,
                        const std::vector<bool>& in) {
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    out += ',';
    if (in[k])
      fmt::format_to(std::back_inserter(out), FMT_COMPILE("{}"), bytes[k]);
  }
}

} // namespace

std::string metrics_header(std::uint32_t shards) {
  std::string h = unsharded_header;
  if (shards <= 1)
    return h;
  h.pop_back();
  for (const char* direction : {"up", "down"})
    for (std::uint32_t k = 0; k < shards; ++k)
      h += fmt::format(",bytes_{}_{}", direction, k);
  return h + '\n';
}

run_log::run_log(const std::string& metrics_path, std::uint32_t shards) {
  shards_ = std::max<std::uint32_t>(shards, 1);
  if (metrics_path.empty())
    return;
  csv_ = output_file{metrics_path, output_file::mode::truncate, "metrics file"};
  csv_.write(metrics_header(shards_));
}

run_log::run_log(const std::string& metrics_path, append_at_step from, std::uint32_t shards) {
  shards_ = std::max<std::uint32_t>(shards, 1);
  if (metrics_path.empty())
    return;
  std::error_code ec;
  if (!std::filesystem::exists(metrics_path, ec) ||
      std::filesystem::file_size(metrics_path, ec) == 0) {
    *this = run_log{metrics_path, shards_};
    return;
  }
  if (!std::filesystem::is_regular_file(metrics_path, ec))
    throw std::runtime_error("cannot continue metrics file '" + metrics_path +
                             "': not a regular file");
  std::string text;
  {
    std::ifstream in{metrics_path, std::ios::binary};
    text.assign(std::istreambuf_iterator<char>{in}, {});
    if (!in && !in.eof())
      throw std::runtime_error(
          fmt::format("cannot read metrics file '{}': {}", metrics_path, std::strerror(errno)));
  }
  const auto header_text = metrics_header(shards_);
  const std::string_view header{header_text};
  if (text.compare(0, header.size(), header) != 0) {
    const auto first_line = text.substr(0, text.find('\n'));
    throw std::runtime_error(fmt::format(
        "cannot continue metrics file '{}': its header is '{}', this version writes '{}' (give "
        "--metrics another file)",
        metrics_path, first_line, header.substr(0, header.size() - 1)));
  }
  // Keep the complete rows of earlier steps; cut at the first row of step >= from.step, or at a
  // last line without its newline (the run stopped while writing it).
  std::size_t keep = header.size();
  for (std::size_t line = 2; keep < text.size(); ++line) {
    const auto end = text.find('\n', keep);
    if (end == std::string::npos)
      break;
    const auto comma = text.find(',', keep);
    std::uint64_t step = 0;
    const auto* first = text.data() + keep;
    const auto* last = text.data() + std::min(comma, end);
    if (auto [ptr, err] = std::from_chars(first, last, step); err != std::errc{} || ptr != last)
      throw std::runtime_error(fmt::format("cannot continue metrics file '{}': line {} is not a "
                                           "row of dsq's metrics",
                                           metrics_path, line));
    if (step >= from.step)
      break;
    keep = end + 1;
  }
  std::filesystem::resize_file(metrics_path, keep, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot write metrics file '{}': {}", metrics_path, ec.message()));
  csv_ = output_file{metrics_path, output_file::mode::append, "metrics file"};
}

void run_log::expect_shards(std::uint32_t shards) {
  shards = std::max<std::uint32_t>(shards, 1);
  if (shards == shards_)
    return;
  if (!rows_.empty() || written_ > 0)
    throw std::logic_error("run_log::expect_shards after a row was recorded");
  if (csv_.is_open())
    throw std::logic_error(
        fmt::format("the metrics file was opened for {} shards, the run has {}", shards_, shards));
  shards_ = shards;
}

void run_log::record(const step_record& row, bool awaiting_evaluation) {
  bytes_up_ += row.bytes_up;
  bytes_down_ += row.bytes_down;
  all_bytes_up_ += row.bytes_up;
  all_bytes_down_ += row.bytes_down;
  rows_.push_back(row);
  rows_.back().total_bytes_up = bytes_up_;
  rows_.back().total_bytes_down = bytes_down_;
  if (shards_ > 1) { // this row is shard 0's part; the followers' come with set_shard_bytes
    auto& r = rows_.back();
    r.shard_bytes_up.assign(shards_, 0);
    r.shard_bytes_down.assign(shards_, 0);
    r.shard_bytes_up[0] = r.bytes_up;
    r.shard_bytes_down[0] = r.bytes_down;
    // A row without pushes (the initial or resumed model) made no version: no shard has
    // bytes to add.
    std::vector<bool> in(shards_, r.pushes == 0);
    in[0] = true;
    shard_in_.push_back(std::move(in));
  }
  // A row recorded with its test columns filled has been evaluated, whatever their values.
  if (!std::isnan(row.test_loss) || !std::isnan(row.test_accuracy))
    rows_.back().evaluated = true;
  waiting_.push_back(awaiting_evaluation);
  if (rows_.back().evaluated)
    note_evaluated(rows_.back());
}

void run_log::note_evaluated(const step_record& row) {
  if (!last_evaluated_ || row.step >= last_evaluated_->step)
    last_evaluated_ = row;
}

const step_record* run_log::set_evaluation(std::uint64_t step, double test_loss,
                                           double test_accuracy) {
  // Rows are appended in step order, and evaluations come back for recent steps: search back.
  for (auto i = rows_.size(); i-- > 0;) {
    if (rows_[i].step == step) {
      rows_[i].test_loss = test_loss;
      rows_[i].test_accuracy = test_accuracy;
      rows_[i].evaluated = true;
      waiting_[i] = false;
      note_evaluated(rows_[i]);
      return &rows_[i];
    }
  }
  return nullptr;
}

void run_log::set_shard_bytes(std::uint64_t step, std::uint32_t shard, std::uint64_t up,
                              std::uint64_t down) {
  if (shards_ <= 1 || shard == 0 || shard >= shards_)
    return;
  // Rows are appended in step order, and a follower's bytes come soon after: search back.
  for (auto i = rows_.size(); i-- > written_;) {
    if (rows_[i].step != step)
      continue;
    if (shard_in_[i][shard])
      return;
    shard_in_[i][shard] = true;
    auto& r = rows_[i];
    r.shard_bytes_up[shard] = up;
    r.shard_bytes_down[shard] = down;
    r.bytes_up += up;
    r.bytes_down += down;
    all_bytes_up_ += up;
    all_bytes_down_ += down;
    return;
  }
}

void run_log::flush(bool all) {
  if (!failure_.empty())
    throw std::runtime_error(failure_);
  // A row of a sharded run waits for every shard's bytes too (but for the end: `all`).
  const auto held = [&](std::size_t i) {
    return waiting_[i] || (shards_ > 1 && std::find(shard_in_[i].begin(), shard_in_[i].end(),
                                                    false) != shard_in_[i].end());
  };
  for (; written_ < rows_.size() && (all || !held(written_)); ++written_) {
    if (shards_ > 1) { // the totals as written: every shard's bytes of every row so far
      auto& w = rows_[written_];
      written_bytes_up_ += w.bytes_up;
      written_bytes_down_ += w.bytes_down;
      w.total_bytes_up = written_bytes_up_;
      w.total_bytes_down = written_bytes_down_;
    }
    const auto& r = rows_[written_];
    if (on_final_)
      on_final_(r);
    if (!csv_.is_open())
      continue;
    // The initial (or resumed) model has no pushes, hence no training loss: an empty cell. A
    // step with pushes whose loss is not finite writes nan or inf: the run diverged there.
    const bool trained = r.pushes > 0 || !std::isnan(r.train_loss);
    // Straight into the buffer: a row is written at every step.
    fmt::format_to(std::back_inserter(pending_), FMT_COMPILE("{},{:.6f},"), r.step, r.wall_s);
    append_cell(pending_, r.train_loss, trained);
    pending_ += ',';
    append_cell(pending_, r.test_loss, r.evaluated);
    pending_ += ',';
    append_cell(pending_, r.test_accuracy, r.evaluated);
    if (shards_ <= 1) {
      fmt::format_to(std::back_inserter(pending_), FMT_COMPILE(",{},{},{},"), r.bytes_up,
                     r.bytes_down, r.workers);
    } else {
      // The sums over the shards, empty (not measured) when a shard's bytes never came (it
      // was lost); then each shard's.
      const auto& in = shard_in_[written_];
      const bool complete = std::find(in.begin(), in.end(), false) == in.end();
      pending_ += ',';
      if (complete)
        fmt::format_to(std::back_inserter(pending_), FMT_COMPILE("{},{}"), r.bytes_up,
                       r.bytes_down);
      else
        pending_ += ',';
      fmt::format_to(std::back_inserter(pending_), FMT_COMPILE(",{},"), r.workers);
    }
    append_number(pending_, r.lr);
    fmt::format_to(std::back_inserter(pending_), FMT_COMPILE(",{},{}"), r.pushes, r.staleness);
    if (shards_ > 1) {
      append_shard_cells(pending_, r.shard_bytes_up, shard_in_[written_]);
      append_shard_cells(pending_, r.shard_bytes_down, shard_in_[written_]);
    }
    pending_ += '\n';
  }
  // Written rows are done with, but for the last few (rows()): a run of 10^8 steps must not
  // hold 10^8 rows.
  for (; memory_ == row_memory::last && written_ > 0 && rows_.size() > kept_rows; --written_) {
    rows_.pop_front();
    waiting_.pop_front();
    if (shards_ > 1)
      shard_in_.pop_front();
  }
  // Hand rows to the OS at least once a second (and at the end), not at every step.
  auto now = std::chrono::steady_clock::now();
  if (csv_.is_open() && (all || now - last_sync_ >= std::chrono::seconds(1))) {
    write_pending(all);
    last_sync_ = now;
  }
}

void run_log::hand_over() {
  last_sync_ = {};
  flush(false);
}

void run_log::write_pending(bool sync) {
  try {
    csv_.write(pending_);
    pending_.clear();
    if (sync)
      csv_.sync();
  } catch (const std::runtime_error& e) {
    failure_ = e.what();
    throw;
  }
}

const step_record* run_log::last_evaluated() const {
  return last_evaluated_ ? &*last_evaluated_ : nullptr;
}

void check_writable(const std::string& path, const char* what) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  // Opening for appending changes nothing in an existing file.
  output_file{path, output_file::mode::append, std::string{what} + " file"}.close();
  if (!existed)
    std::filesystem::remove(path, ec);
}

namespace {

/// {"drop": 12, "crash": 1} without the braces.
std::string json_counts(const std::map<std::string, std::uint64_t>& counts) {
  std::string out;
  for (const auto& [kind, n] : counts)
    out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", json_string(kind), n);
  return out;
}

} // namespace

void write_summary(const std::string& path, const run_summary& s) {
  auto text = fmt::format(
      "{{\n"
      "  \"method\": {},\n  \"uplink\": {},\n  \"downlink\": {},\n  \"compressor\": {},\n"
      "  \"model\": {},\n  \"dataset\": {},\n  \"mode\": {},\n  \"simd\": {},\n  \"aggregate\": "
      "{},\n"
      "  \"parameters\": {},\n"
      "  \"seed\": {},\n  \"workers\": {},\n  \"steps\": {},\n  \"final_train_loss\": {},\n"
      "  \"test_loss\": {},\n  \"test_accuracy\": {},\n  \"bytes_up\": {},\n"
      "  \"bytes_down\": {},\n  \"wall_s\": {},\n  \"steps_per_s\": {},\n  \"startup_s\": {},\n"
      "  \"joins\": {},\n"
      "  \"departures\": {},\n  \"ignored_pushes\": {},\n  \"verified_replicas\": {},\n"
      "  \"rejected_pushes\": {},\n  \"timeouts\": {},\n  \"worker_failures\": {},\n"
      "  \"retransmissions\": {},\n"
      "  \"resyncs\": {},\n  \"floods_expelled\": {},\n  \"returned_workers\": {},\n  "
      "\"residuals_lost\": {},\n"
      "  \"faults_injected\": {{{}}},\n  \"staleness_bound\": {},\n"
      "  \"pushes_applied\": {},\n  \"max_staleness\": {},\n  \"mean_staleness\": {},\n"
      "  \"staleness_histogram\": [{}],\n  \"admission_waits\": {},\n"
      "  \"admission_wait_s\": {},\n  \"held_pushes\": {},\n  \"target_accuracy\": {},\n"
      "  \"reached_target\": {},\n  \"time_to_target_s\": {},\n"
      "  \"completed\": {},\n  \"diverged\": {},\n  \"diverged_at_step\": {},\n"
      "{}"
      "  \"note\": {}\n"
      "}}\n",
      json_string(s.method), json_string(s.uplink), json_string(s.downlink),
      json_string(s.uplink == s.downlink ? s.uplink : s.uplink + "/" + s.downlink),
      json_string(s.model), json_string(s.dataset), json_string(s.mode), json_string(s.simd),
      json_string(s.aggregate), s.parameters, s.seed, s.workers, s.steps,
      json_number(s.final_train_loss), json_number(s.test_loss), json_number(s.test_accuracy),
      s.bytes_up, s.bytes_down, json_number(s.wall_s), json_number(s.steps_per_s),
      json_number(s.startup_s), s.joins, s.departures, s.ignored_pushes, s.verified_replicas,
      s.rejected_pushes, s.timeouts, s.worker_failures, s.retransmissions, s.resyncs,
      s.floods_expelled, s.returned_workers, s.residuals_lost, json_counts(s.faults_injected),
      s.staleness_bound < 0 ? std::string{"null"} : std::to_string(s.staleness_bound),
      s.pushes_applied, s.max_staleness, json_number(s.mean_staleness),
      fmt::format("{}", fmt::join(s.staleness_histogram, ", ")), s.admission_waits,
      json_number(s.admission_wait_s), s.held_pushes, json_number(s.target_accuracy),
      s.reached_target ? "true" : "false", json_number(s.time_to_target_s),
      s.completed && !s.diverged ? "true" : "false", s.diverged ? "true" : "false",
      s.diverged && s.diverged_at_step ? std::to_string(*s.diverged_at_step) : std::string{"null"},
      s.shards > 1 ? fmt::format("  \"shards\": {},\n  \"shard_bytes_up\": [{}],\n"
                                 "  \"shard_bytes_down\": [{}],\n",
                                 s.shards, fmt::join(s.shard_bytes_up, ", "),
                                 fmt::join(s.shard_bytes_down, ", "))
                   : std::string{},
      json_string(s.note));
  write_file_atomically(path, text, "summary file");
}

} // namespace dsq
