#include "training/staleness_admission.hpp"

#include "training/run_log.hpp"

#include <algorithm>
#include <stdexcept>

namespace dsq {

staleness_admission::staleness_admission(std::uint64_t tau) : tau_(tau) {}

void staleness_admission::enter(std::uint32_t id, std::uint64_t) {
  if (members_.insert(id).second)
    ready_.push_back(ready_worker{id, clock::now(), false});
}

void staleness_admission::leave(std::uint32_t id) {
  members_.erase(id);
  std::erase_if(ready_, [id](const ready_worker& r) { return r.id == id; });
  // A gradient still being computed will never come: release its grant. A push that arrived
  // stays and is applied.
  if (auto it = computing_.find(id); it != computing_.end()) {
    outstanding_.erase(it->second);
    computing_.erase(it);
  }
}

bool staleness_admission::offer(received_push p, std::uint64_t version) {
  auto it = computing_.find(p.worker);
  if (it == computing_.end())
    return false; // no grant: a duplicate, or a worker that computed without permission
  auto& g = outstanding_.at(it->second);
  // Computed on the granted version or a later one (never beyond the server's own).
  if (p.step + tau_ < g.deadline || p.step > version)
    return false;
  const auto id = p.worker;
  g.push = std::move(p);
  arrivals_.push_back(it->second);
  computing_.erase(it);
  if (members_.count(id) > 0)
    ready_.push_back(ready_worker{id, clock::now(), false});
  return true;
}

bool staleness_admission::schedulable(std::uint64_t version, std::uint64_t skip) const {
  std::vector<std::uint64_t> deadlines;
  deadlines.reserve(outstanding_.size());
  for (const auto& [seq, g] : outstanding_)
    if (seq != skip)
      deadlines.push_back(g.deadline);
  std::sort(deadlines.begin(), deadlines.end());
  for (std::size_t k = 0; k < deadlines.size(); ++k)
    if (deadlines[k] < version + k)
      return false;
  return true;
}

std::optional<round> staleness_admission::next(std::uint64_t version, std::size_t live) {
  for (auto it = arrivals_.begin(); it != arrivals_.end(); ++it) {
    const auto seq = *it;
    auto& g = outstanding_.at(seq);
    if (!schedulable(version + 1, seq)) {
      if (!g.counted_as_held) {
        g.counted_as_held = true;
        ++held_;
      }
      continue;
    }
    if (version > g.deadline)
      throw std::logic_error("staleness_admission: a push is past its deadline");
    round r;
    r.pushes.push_back(std::move(*g.push));
    r.weight = 1.0f / static_cast<float>(std::max<std::size_t>(live, 1));
    outstanding_.erase(seq);
    arrivals_.erase(it);
    return r;
  }
  return std::nullopt;
}

std::vector<grant> staleness_admission::grants(std::uint64_t version, std::uint64_t remaining) {
  std::vector<grant> result;
  // The new grant has the latest deadline, version + τ: it is schedulable with the others iff
  // fewer than τ + 1 are outstanding. Never grant more gradients than versions remain.
  while (!ready_.empty() && outstanding_.size() <= tau_ && outstanding_.size() < remaining) {
    const auto w = ready_.front();
    ready_.pop_front();
    const auto id = w.id;
    const auto seq = next_seq_++;
    outstanding_.emplace(seq, gradient{id, version + tau_, std::nullopt, false});
    computing_[id] = seq;
    result.push_back(grant{id, version, seq});
    if (w.passed_over) {
      ++waits_;
      wait_s_ += std::chrono::duration<double>(clock::now() - w.since).count();
    }
  }
  for (auto& w : ready_)
    w.passed_over = true;
  return result;
}

void staleness_admission::add_statistics(run_summary& s) const {
  s.admission_waits = waits_;
  s.admission_wait_s = wait_s_;
  s.held_pushes = held_;
}

std::string staleness_admission::describe() const {
  return "async, staleness <= " + std::to_string(tau_);
}

bool staleness_admission::has_pending_pushes() const {
  return !arrivals_.empty();
}

} // namespace dsq
