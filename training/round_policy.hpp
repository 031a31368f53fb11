#pragma once

// When the server may apply which pushes: the round policy. The synchronous barrier
// (sync_barrier.hpp) applies one update per step with every live worker's push; the
// bounded-staleness admission (staleness_admission.hpp) applies pushes one at a time and decides
// when a worker may start a gradient. The parameter server asks its policy, never the mode:
// every decision that differs between the modes is a question below (make_round_policy.hpp
// reads the mode once, to pick the policy).

#include "training/grant.hpp"
#include "training/received_push.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

struct run_summary;

class round_policy {
public:
  virtual ~round_policy() = default;

  /// Worker `id` takes part from server version `version` on.
  virtual void enter(std::uint32_t id, std::uint64_t version) = 0;

  /// Worker `id` is gone. Whatever it was allowed to compute is released, so that nobody waits
  /// for it; a push of its that was already accepted is kept (docs/algorithm.md, membership).
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

  // -- what the server asks instead of the mode -----------------------------------------------

  /// True if membership changes (a join, a departure) take effect at once; false if they wait
  /// for the next update, which is then a boundary (re-shard, welcome joiners) for everybody.
  virtual bool changes_membership_at_once() const = 0;

  /// True if a joiner may enter now, while `members` workers take part (sync: only when no step
  /// is in progress).
  virtual bool lets_joiner_in_now(std::size_t members) const = 0;

  /// The workers a row of the metrics counts for an update of `pushes` pushes made while
  /// `members` workers take part.
  virtual std::uint32_t row_workers(std::size_t members, std::size_t pushes) const = 0;

  /// True if the workers' own states can be collected with their pushes for checkpoints (all
  /// of a step's pushes make one update, so the states belong to one version).
  virtual bool collects_worker_states() const = 0;

  /// What makes a worker's push unique and grows with each of its pushes, from its `step` and
  /// its grant's `number` (a resend has a key not newer than the last accepted).
  virtual std::uint64_t push_key(std::uint64_t step, std::uint64_t number) const = 0;

  /// True if a push of worker `id` for `step` under grant `number` answers something the server
  /// issued to it, at server version `version`: sync, a step not after the server's version;
  /// async, the grant the worker holds, computed on a version the server has made. A push that
  /// fails this is refused before anything looks at it (a forged number taken into the push
  /// ledger would mark the worker's real pushes as resends). Resends of pushes in hand are
  /// recognized by the ledger before this is asked.
  virtual bool issued(std::uint32_t id, std::uint64_t step, std::uint64_t number,
                      std::uint64_t version) const = 0;

  /// The staleness bound the summary reports (-1: none).
  virtual std::int64_t staleness_bound() const = 0;

  /// The mode in words, for the run's first console line.
  virtual std::string describe() const = 0;
};

} // namespace dsq
