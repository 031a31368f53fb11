#pragma once

// The shared, thread-safe side of fault injection in one process (issue 9): the checked plan,
// the fault log with its clock and counts, and which one-time faults have fired. Every link
// actor of a process and the server's crash hook hold one injector; it has no CAF in it (the
// link actor, fault injection's CAF half, is actors/fault_link.hpp).

#include "training/faults/fault_log.hpp"
#include "training/faults/fault_plan.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace dsq {

/// Exit code of a `dsq server` process killed by `faults.server-crash` (a supervisor restarts it
/// with --resume).
inline constexpr int exit_injected_server_crash = 4;
/// Exit code of a `dsq worker` process killed by `faults.crash`.
inline constexpr int exit_injected_worker_crash = 5;

/// The fault plan of one process, its log and the faults that happen once.
class fault_injector {
public:
  /// Injects `plan`, writing rows to `log_path` (empty: count only). Opens the log at once:
  /// throws std::runtime_error naming the file when it cannot be written.
  explicit fault_injector(fault_plan plan, const std::string& log_path = {});

  /// The plan injected.
  const fault_plan& plan() const { return plan_; }

  /// Records a fault at model version `step` (`where`: "3/up", "3", or "" for the server).
  /// Never throws: a failed write is kept and thrown by sync() at the end of the run.
  void record(std::uint64_t step, fault_kind kind, std::string_view where);

  /// The first unfired fault of `kind` (crash, hang, corrupt, poison, rejoin) of worker `worker`
  /// whose step is at most `step`, marked fired: each worker fault fires once per process.
  std::optional<worker_fault> take(fault_kind kind, std::uint32_t worker, std::uint64_t step);
  /// Every unfired rejoin fault whose step is at most `step`, marked fired.
  std::vector<worker_fault> take_rejoins(std::uint64_t step);
  /// True once: when `step` reached the plan's server-crash step the first time.
  bool take_server_crash(std::uint64_t step);

  /// Whether worker `worker` needs a link: message faults on one of its directions, or a worker
  /// fault of its own (crash, hang, corrupt, poison).
  bool needs_link(std::uint32_t worker) const;
  /// Whether worker `worker`'s link to a follower shard (--servers=K) needs a fault link: message
  /// faults on one of its directions (worker faults fire on its link to the leader only).
  bool needs_follower_link(std::uint32_t worker) const;
  /// Whether worker `worker` has a fault of its own (crash, hang, corrupt, poison).
  bool has_worker_fault(std::uint32_t worker) const;

  /// Counts a link actor spawned for this injector (tests check that an empty plan spawns none).
  void link_spawned() { ++links_; }
  /// Link actors spawned so far.
  std::uint32_t links_spawned() const { return links_; }

  /// Faults recorded of `kind`.
  std::uint64_t count(fault_kind kind) const;
  /// {kind: count} of the faults recorded: the summary's `faults_injected`.
  std::map<std::string, std::uint64_t> counts() const;
  /// counts() as a JSON object.
  std::string counts_json() const;
  /// Syncs the log to disk; throws std::runtime_error naming the file if any write failed.
  void sync();

private:
  const std::vector<worker_fault>& faults_of(fault_kind kind) const;

  fault_plan plan_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_; ///< guards everything below
  fault_log log_;
  std::string failure_; ///< the first failed write
  std::set<std::tuple<fault_kind, std::uint32_t, std::uint64_t>> fired_;
  bool server_crashed_ = false;
  std::atomic<std::uint32_t> links_{0};
};

/// Refuses a plan that `dsq local` with `workers` workers cannot inject: a worker fault or a
/// link naming a worker id >= workers, and server-crash without --checkpoint (the restarted
/// server, with --servers=K every shard, resumes from it). Throws config_error naming the
/// option.
void check_local_plan(const fault_plan& plan, std::size_t workers, const std::string& checkpoint);

} // namespace dsq
