#pragma once

// The record of injected faults (--fault-log): one CSV row `wall_s,step,kind,link` per fault,
// and a count per kind for the summary's `faults_injected`. Each row is handed to the OS as it
// is recorded, because the faults include crashes of the recording process itself. Every write
// is checked (training/output_file.hpp).

#include "training/output_file.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dsq {

/// The kinds of injected fault, named after the `faults` keys that cause them. Delays are not
/// among them: on a delayed link every message has one.
enum class fault_kind : std::uint8_t {
  drop,
  duplicate,
  reorder,
  crash,
  hang,
  rejoin,
  corrupt,
  poison,
  server_crash
};

/// The number of fault kinds.
inline constexpr std::size_t fault_kind_count = 9;

/// "drop", ..., "server-crash": the key of the fault and its name in the log and the summary.
std::string_view name(fault_kind kind);

/// The injected faults of a run, counted and, with a path, written as CSV.
class fault_log {
public:
  /// Counts only; writes nothing.
  fault_log() = default;
  /// Opens `path` (if not empty), truncating it and writing the header, so that a bad path fails
  /// before the run. Throws std::runtime_error naming the file and the reason.
  explicit fault_log(const std::string& path);

  /// Counts a fault of `kind` at `wall_s` seconds into the run and model version `step`, where
  /// `where` says where it happened (a link "3/up", a worker "3", or empty for the server), and
  /// writes its row. Throws std::runtime_error naming the file on a failed write; after one,
  /// every later call throws the same error. Throws std::invalid_argument if `where` holds a
  /// comma, a quote or a line break (it would break the CSV row).
  void record(double wall_s, std::uint64_t step, fault_kind kind, std::string_view where);

  /// Syncs the file to disk (at the end of the run). Throws like record().
  void sync();

  /// Faults recorded of `kind`.
  std::uint64_t count(fault_kind kind) const { return counts_[static_cast<std::size_t>(kind)]; }
  /// Faults recorded of every kind.
  std::uint64_t total() const;
  /// {kind name: count} of the kinds recorded at least once: the summary's `faults_injected`.
  std::map<std::string, std::uint64_t> counts() const;
  /// counts() as a JSON object, e.g. {"drop": 12, "crash": 1}; {} when none.
  std::string counts_json() const;

private:
  void write(std::string_view bytes);

  output_file csv_;
  std::string failure_; ///< the first write error; sticky
  std::array<std::uint64_t, fault_kind_count> counts_{};
};

} // namespace dsq
