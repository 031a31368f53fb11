#include "training/run_log.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace dsq {

namespace {

std::string number(double x) {
  return std::isnan(x) ? std::string{} : fmt::format("{:.6g}", x);
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

} // namespace

run_log::run_log(const std::string& metrics_path) {
  if (metrics_path.empty())
    return;
  csv_.open(metrics_path, std::ios::trunc);
  if (!csv_)
    throw std::runtime_error("cannot write metrics file '" + metrics_path + "'");
  csv_ << "step,wall_s,train_loss,test_loss,test_accuracy,bytes_up,bytes_down,workers,lr,pushes,"
          "staleness\n";
}

void run_log::record(const step_record& row, bool awaiting_evaluation) {
  bytes_up_ += row.bytes_up;
  bytes_down_ += row.bytes_down;
  rows_.push_back(row);
  rows_.back().total_bytes_up = bytes_up_;
  rows_.back().total_bytes_down = bytes_down_;
  waiting_.push_back(awaiting_evaluation);
}

const step_record* run_log::set_evaluation(std::uint64_t step, double test_loss,
                                           double test_accuracy) {
  // Rows are appended in step order, and evaluations come back for recent steps: search back.
  for (auto i = rows_.size(); i-- > 0;) {
    if (rows_[i].step == step) {
      rows_[i].test_loss = test_loss;
      rows_[i].test_accuracy = test_accuracy;
      waiting_[i] = false;
      return &rows_[i];
    }
  }
  return nullptr;
}

void run_log::flush(bool all) {
  for (; written_ < rows_.size() && (all || !waiting_[written_]); ++written_) {
    if (!csv_.is_open())
      continue;
    const auto& r = rows_[written_];
    csv_ << fmt::format("{},{:.6f},{},{},{},{},{},{},{},{},{}\n", r.step, r.wall_s,
                        number(r.train_loss), number(r.test_loss), number(r.test_accuracy),
                        r.bytes_up, r.bytes_down, r.workers, number(r.lr), r.pushes, r.staleness);
  }
  // Hand rows to the OS at least once a second (and at the end), not at every step.
  auto now = std::chrono::steady_clock::now();
  if (csv_.is_open() && (all || now - last_sync_ >= std::chrono::seconds(1))) {
    csv_.flush();
    last_sync_ = now;
  }
}

const step_record* run_log::last_evaluated() const {
  for (auto i = rows_.size(); i-- > 0;)
    if (!std::isnan(rows_[i].test_accuracy))
      return &rows_[i];
  return nullptr;
}

void check_writable(const std::string& path, const char* what) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  {
    std::ofstream probe{path, std::ios::app};
    if (!probe)
      throw std::runtime_error(fmt::format("cannot write {} file '{}'", what, path));
  }
  if (!existed)
    std::filesystem::remove(path, ec);
}

void write_summary(const std::string& path, const run_summary& s) {
  auto text = fmt::format(
      "{{\n"
      "  \"method\": {},\n  \"uplink\": {},\n  \"downlink\": {},\n  \"compressor\": {},\n"
      "  \"model\": {},\n  \"dataset\": {},\n  \"mode\": {},\n  \"parameters\": {},\n"
      "  \"seed\": {},\n  \"workers\": {},\n  \"steps\": {},\n  \"final_train_loss\": {},\n"
      "  \"test_loss\": {},\n  \"test_accuracy\": {},\n  \"bytes_up\": {},\n"
      "  \"bytes_down\": {},\n  \"wall_s\": {},\n  \"steps_per_s\": {},\n  \"joins\": {},\n"
      "  \"departures\": {},\n  \"ignored_pushes\": {},\n  \"verified_replicas\": {},\n  "
      "\"completed\": {},\n  \"note\": {}\n"
      "}}\n",
      json_string(s.method), json_string(s.uplink), json_string(s.downlink),
      json_string(s.uplink == s.downlink ? s.uplink : s.uplink + "/" + s.downlink),
      json_string(s.model), json_string(s.dataset), json_string(s.mode), s.parameters, s.seed,
      s.workers, s.steps, json_number(s.final_train_loss), json_number(s.test_loss),
      json_number(s.test_accuracy), s.bytes_up, s.bytes_down, json_number(s.wall_s),
      json_number(s.steps_per_s), s.joins, s.departures, s.ignored_pushes, s.verified_replicas,
      s.completed ? "true" : "false", json_string(s.note));
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    if (!out)
      throw std::runtime_error("cannot write summary file '" + path + "'");
    out << text;
    if (!out)
      throw std::runtime_error("cannot write summary file '" + path + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot write summary file '" + path + "'");
}

} // namespace dsq
