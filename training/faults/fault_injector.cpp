#include "training/faults/fault_injector.hpp"

#include "config/run_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace dsq {

fault_injector::fault_injector(fault_plan plan, const std::string& log_path)
    : plan_(std::move(plan)), log_(log_path) {}

void fault_injector::record(std::uint64_t step, fault_kind kind, std::string_view where) {
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard lock{mutex_};
  try {
    log_.record(wall_s, step, kind, where);
  } catch (const std::exception& e) {
    // A link actor must not die of a full disk; the run reports the failure at its end.
    if (failure_.empty()) {
      failure_ = e.what();
      std::fprintf(stderr, "dsq: error: %s\n", failure_.c_str());
    }
  }
}

const std::vector<worker_fault>& fault_injector::faults_of(fault_kind kind) const {
  switch (kind) {
  case fault_kind::crash:
    return plan_.crash;
  case fault_kind::hang:
    return plan_.hang;
  case fault_kind::corrupt:
    return plan_.corrupt;
  case fault_kind::poison:
    return plan_.poison;
  case fault_kind::rejoin:
    return plan_.rejoin;
  default:
    throw std::logic_error("fault_injector: not a worker fault");
  }
}

std::optional<worker_fault> fault_injector::take(fault_kind kind, std::uint32_t worker,
                                                 std::uint64_t step) {
  std::lock_guard lock{mutex_};
  for (const auto& f : faults_of(kind))
    if (f.worker == worker && f.step <= step && fired_.emplace(kind, f.worker, f.step).second)
      return f;
  return std::nullopt;
}

std::vector<worker_fault> fault_injector::take_rejoins(std::uint64_t step) {
  std::lock_guard lock{mutex_};
  std::vector<worker_fault> due;
  for (const auto& f : plan_.rejoin)
    if (f.step <= step && fired_.emplace(fault_kind::rejoin, f.worker, f.step).second)
      due.push_back(f);
  return due;
}

bool fault_injector::take_server_crash(std::uint64_t step) {
  std::lock_guard lock{mutex_};
  if (!plan_.server_crash || step < *plan_.server_crash || server_crashed_)
    return false;
  server_crashed_ = true;
  return true;
}

bool fault_injector::has_worker_fault(std::uint32_t worker) const {
  const auto names = [worker](const std::vector<worker_fault>& faults) {
    return std::any_of(faults.begin(), faults.end(),
                       [worker](const worker_fault& f) { return f.worker == worker; });
  };
  return names(plan_.crash) || names(plan_.hang) || names(plan_.corrupt) || names(plan_.poison);
}

bool fault_injector::needs_follower_link(std::uint32_t worker) const {
  return plan_.has_message_faults() && (plan_.covers({worker, link_direction::up}) ||
                                        plan_.covers({worker, link_direction::down}));
}

bool fault_injector::needs_link(std::uint32_t worker) const {
  return needs_follower_link(worker) || has_worker_fault(worker);
}

std::uint64_t fault_injector::count(fault_kind kind) const {
  std::lock_guard lock{mutex_};
  return log_.count(kind);
}

std::map<std::string, std::uint64_t> fault_injector::counts() const {
  std::lock_guard lock{mutex_};
  return log_.counts();
}

std::string fault_injector::counts_json() const {
  std::lock_guard lock{mutex_};
  return log_.counts_json();
}

void fault_injector::sync() {
  std::lock_guard lock{mutex_};
  if (!failure_.empty())
    throw std::runtime_error(failure_);
  log_.sync();
}

void check_local_plan(const fault_plan& plan, std::size_t workers, const std::string& checkpoint) {
  const auto check = [workers](const char* key, const std::vector<worker_fault>& faults) {
    for (const auto& f : faults)
      if (f.worker >= workers)
        throw config_error(fmt::format("--faults.{}: worker {} does not exist (dsq local has "
                                       "workers 0 to {} with --workers={})",
                                       key, f.worker, workers - 1, workers));
  };
  check("crash", plan.crash);
  check("hang", plan.hang);
  check("rejoin", plan.rejoin);
  check("corrupt", plan.corrupt);
  check("poison", plan.poison);
  for (const auto id : plan.link_workers)
    if (id >= workers)
      throw config_error(fmt::format("--faults.links: worker {} does not exist (dsq local has "
                                     "workers 0 to {} with --workers={})",
                                     id, workers - 1, workers));
  if (plan.server_crash && checkpoint.empty())
    throw config_error("--faults.server-crash needs --checkpoint=DIR in dsq local: the server is "
                       "restarted from its last checkpoint");
}

} // namespace dsq
