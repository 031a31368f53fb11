#pragma once

// How much a worker may ask the server to send again. A worker that lacks updates (a status, a
// resend of a push in hand, a push too late) gets them again from the ring, or the full model (a
// resync) when the ring no longer has them. Both are answers much larger than the question: a
// flood of 20,000 status messages made a server send 20,000 resyncs of the full model and grow
// by 600 MB (issue 29). So:
// - a worker gets at most one resync per server version: one in flight already brings it to
//   that version (resyncs ride TCP and the fault plan only delays them, never drops them);
// - a worker may ask at most `limit` times between two of its pushes that the server takes; an
//   honest worker asks about once per probe (a second or more) and pushes after every update, so
//   one over the budget floods, and is expelled.
// Counted in events, not time: the same run makes the same decisions on any machine.

#include <cstdint>
#include <map>

namespace dsq {

/// Requests between two accepted pushes after which a worker is expelled.
inline constexpr std::uint64_t catch_up_limit = 1000;

class catch_up_budget {
public:
  explicit catch_up_budget(std::uint64_t limit = catch_up_limit) : limit_(limit) {}

  /// Worker `worker` asks to catch up: false once it asked more than the limit since its last
  /// push taken (it floods).
  bool ask(std::uint32_t worker) { return ++asked_[worker] <= limit_; }

  /// A push of `worker` was taken: its budget starts again.
  void pushed(std::uint32_t worker) { asked_.erase(worker); }

  /// True (and noted) if `worker` may get a resync at `version`: not if one was sent at it.
  bool may_resync(std::uint32_t worker, std::uint64_t version) {
    auto [it, first] = resynced_at_.try_emplace(worker, version);
    if (!first && it->second == version)
      return false;
    it->second = version;
    return true;
  }

  /// Worker `worker` is gone: a new worker under its id starts afresh.
  void forget(std::uint32_t worker) {
    asked_.erase(worker);
    resynced_at_.erase(worker);
  }

  /// The limit of requests between two pushes.
  std::uint64_t limit() const { return limit_; }

private:
  std::uint64_t limit_;
  std::map<std::uint32_t, std::uint64_t> asked_;       ///< requests since the last push taken
  std::map<std::uint32_t, std::uint64_t> resynced_at_; ///< the version of the last resync
};

} // namespace dsq
