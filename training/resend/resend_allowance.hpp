#pragma once

// How many bytes the server may send a worker again, over time. Answers to a worker that asks
// (resent updates, a resync of the full model, the answers to its probes, the acknowledgement
// of a push it sent again) are much larger, or much more numerous, than the questions: a member
// that replayed its pushes on every update it received drove a server to 16.7 GB, and 20,000
// probes got 20,000 answers (issue 29). catch_up_budget.hpp bounds requests between two pushes
// in events; this bounds the bytes in time, for a member that pushes as well: a bucket per
// worker of `burst` bytes, refilled at `rate` bytes per second. A worker that asks for more
// than its bucket holds floods, and is expelled (server_core::within_allowance).
//
// An honest worker asks after a loss (one update, a few, or one resync after a reconnect) and
// probes about once a second while it waits: a small fraction of either bound.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>

namespace dsq {

/// What one small answer (an acknowledgement, a grant, a "sent" or "resend" note) costs,
/// headers included, rounded up.
inline constexpr std::uint64_t small_answer_bytes = 128;

class resend_allowance {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// A bucket of `burst` bytes per worker, full at first, refilled at `rate` bytes per second.
  resend_allowance(std::uint64_t burst, double rate) : burst_(burst), rate_(rate) {}

  /// Takes `bytes` from `worker`'s bucket at `now`: false, and nothing taken, when the bucket
  /// holds less (the worker asks for more than its allowance).
  bool take(std::uint32_t worker, std::uint64_t bytes, time_point now) {
    auto [it, fresh] = buckets_.try_emplace(worker, bucket{static_cast<double>(burst_), now});
    auto& b = it->second;
    if (!fresh && now > b.at) {
      const double elapsed = std::chrono::duration<double>(now - b.at).count();
      b.bytes = std::min(static_cast<double>(burst_), b.bytes + elapsed * rate_);
    }
    b.at = std::max(b.at, now);
    if (static_cast<double>(bytes) > b.bytes)
      return false;
    b.bytes -= static_cast<double>(bytes);
    return true;
  }

  /// Worker `worker` is gone: a new worker under its id starts with a full bucket.
  void forget(std::uint32_t worker) { buckets_.erase(worker); }

  /// The bytes a full bucket holds.
  std::uint64_t burst() const { return burst_; }
  /// The bytes per second a bucket refills.
  double rate() const { return rate_; }

private:
  struct bucket {
    double bytes;
    time_point at; ///< when `bytes` was last brought up to date
  };
  std::uint64_t burst_;
  double rate_;
  std::map<std::uint32_t, bucket> buckets_;
};

/// The allowance of a run whose model has `parameters` parameters: a burst of 16 full models
/// (4 bytes a parameter) and 4 full models a second, and never less than 1 MiB and 256 KiB a
/// second (a small model's updates are mostly headers).
inline resend_allowance run_resend_allowance(std::uint64_t parameters) {
  const std::uint64_t model = 4 * parameters;
  const std::uint64_t burst = std::max<std::uint64_t>(16 * model, std::uint64_t{1} << 20);
  const double rate = std::max(4.0 * static_cast<double>(model), 256.0 * 1024);
  return resend_allowance{burst, rate};
}

} // namespace dsq
