#pragma once

// When the server may apply which pushes: the round policy. The synchronous barrier
// (sync_barrier.hpp) applies one update per step with every live worker's push; the
// bounded-staleness admission (staleness_admission.hpp) applies pushes one at a time and decides
// when a worker may start a gradient. The parameter server asks its policy, never the mode.

#include "compression/compressed_message.hpp"
#include "training/run_log.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// A push as the server accepted it: decoded and checked.
struct received_push {
  std::uint32_t worker = 0;
  std::uint64_t step = 0; ///< the version its gradient was computed on
  compressed_message c;
  float loss = 0;
  std::size_t bytes = 0; ///< its size on the wire
  double norm = 0;       ///< ‖c‖₂, which the push bound learns from once it is applied
};

/// Pushes that make one update, in the order they are summed, each weighted by `weight` (1/n).
struct round {
  std::vector<received_push> pushes;
  float weight = 1;
};

/// Permission for worker `worker` to compute a gradient on a model of version >= `version`.
struct grant {
  std::uint32_t worker = 0;
  std::uint64_t version = 0;
  /// Grants are numbered in the order they are issued: a worker may get two grants for the same
  /// version (its push was held, not yet applied), so the number tells a copy from a new one.
  std::uint64_t number = 0;
};

class round_policy {
public:
  virtual ~round_policy() = default;

  /// Worker `id` takes part from server version `version` on.
  virtual void enter(std::uint32_t id, std::uint64_t version) = 0;

  /// Worker `id` is gone. Whatever it was allowed to compute is released, so that nobody waits
  /// for it; a push of its that was already accepted is kept (ALGORITHM.md, membership).
  virtual void leave(std::uint32_t id) = 0;

  /// Offers a push at server version `version`: true if accepted, false if it is not expected
  /// (a duplicate, for another step, or from a worker without permission): ignore it.
  virtual bool offer(received_push p, std::uint64_t version) = 0;

  /// The next update that may be applied at `version` with `live` workers, if any.
  virtual std::optional<round> next(std::uint64_t version, std::size_t live) = 0;

  /// Workers that may start a gradient now, given that `remaining` more versions are to be made.
  /// The synchronous barrier grants nothing: its workers compute after every update.
  virtual std::vector<grant> grants(std::uint64_t version, std::uint64_t remaining) = 0;

  /// True if the run waits for a push from worker `id` now (sync: a member that has not pushed
  /// for this step; async: a worker holding a grant).
  virtual bool owes_push(std::uint32_t id) const = 0;

  /// The grant worker `id` holds and has not pushed for (async), if any: a worker that says it
  /// has none lost it on the way, and gets it again.
  virtual std::optional<grant> open_grant(std::uint32_t) const { return std::nullopt; }

  /// True if pushes are accepted and waiting that no update has applied yet.
  virtual bool has_pending_pushes() const = 0;

  /// Adds what the policy measured (admission waits, held pushes) to the run's summary.
  virtual void add_statistics(run_summary&) const {}
};

/// The policy of `mode` ("sync" or "async"); `staleness` is τ for async. Throws
/// std::invalid_argument for another mode.
std::unique_ptr<round_policy> make_round_policy(const std::string& mode, std::uint64_t staleness);

} // namespace dsq
