#pragma once

// When a worker computes and pushes a gradient. Synchronous: on every version it reaches before
// the end (the barrier waits for it). Asynchronous: only with a grant from the server's
// admission (staleness_admission.hpp), on a replica at least as new as the granted version.

#include <cstdint>
#include <optional>

namespace dsq {

class push_policy {
public:
  /// `async` selects the rule; the run ends at version `total_steps`.
  push_policy(bool async, std::uint64_t total_steps) : async_(async), total_(total_steps) {}

  /// The server allows one gradient on a model of version >= `version` (async), in its grant
  /// number `number`. Numbers grow, so one not above the last is a copy (a retransmission, or
  /// the network's): false, and it is ignored, because computing twice for one grant would
  /// fold a gradient into the residual that the server never applies.
  bool on_grant(std::uint64_t version, std::uint64_t number) {
    if (last_grant_ && number <= *last_grant_)
      return false;
    grant_ = version;
    last_grant_ = number;
    return true;
  }

  /// The number of the latest grant taken (async; 0 before the first).
  std::uint64_t grant_number() const { return last_grant_.value_or(0); }

  /// True if the worker waits for the server: for permission (async) or for the next update.
  bool waiting(std::uint64_t version) const {
    if (async_)
      return !grant_ || version < *grant_;
    return version < total_ && pushed_ && *pushed_ == version;
  }

  /// True if the worker should compute a gradient now, its replica being at `version`.
  bool should_compute(std::uint64_t version) const {
    if (async_)
      return grant_ && version >= *grant_;
    return version < total_ && (!pushed_ || *pushed_ != version);
  }

  /// A gradient was computed at `version`: the grant is used up, the version is done.
  void computed(std::uint64_t version) {
    pushed_ = version;
    grant_.reset();
  }

  /// The number by which the server acknowledges a push of `step` under grant `grant`: the
  /// grant number (async: two grants may name the same version) or the step (sync).
  std::uint64_t push_key(std::uint64_t step, std::uint64_t grant) const {
    return async_ ? grant : step;
  }

  /// The push key that reaching version `version` through the server's updates (or a resync)
  /// acknowledges, with every older one: sync, the push of the step before (the barrier waited
  /// for it); async, none (an update does not say whose pushes it holds).
  std::optional<std::uint64_t> acknowledged_by(std::uint64_t version) const {
    if (async_)
      return std::nullopt;
    return version - 1;
  }

private:
  bool async_;
  std::uint64_t total_;
  std::optional<std::uint64_t> grant_;
  std::optional<std::uint64_t> last_grant_;
  std::optional<std::uint64_t> pushed_;
};

} // namespace dsq
