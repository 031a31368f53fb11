#pragma once

// The server's half of the resender: which of the latest updates it still keeps for workers that
// missed some, and what a worker that lacks updates gets (catch_up): the missing updates again,
// or the full model (a resync) when they are no longer kept.
//
// The ring keeps versions and sizes, not the updates: it decides, and whoever sends keeps the
// messages by version (the parameter server keeps one shared caf::message per update, which in
// one process shares its payload with every recipient; bytes kept here would be one more copy of
// every update, or a CAF type below the actors). It evicts the oldest first, so the versions it
// keeps are always the consecutive ones from oldest() to newest().

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace dsq {

class update_ring {
public:
  /// Keeps at most `max_updates` updates and, beyond the newest one, at most `max_bytes` bytes.
  update_ring(std::size_t max_updates, std::size_t max_bytes);

  /// Remembers the update that made `version` (after every kept one), `bytes` long; evicts the
  /// oldest until the bounds hold again (the newest always stays).
  void remember(std::uint64_t version, std::size_t bytes);

  /// What a worker that holds x_`held` needs to reach x_`current`.
  struct catch_up_plan {
    bool resync = false;                 ///< the full model: the ring lacks the first update
    std::vector<std::uint64_t> versions; ///< else these updates again, oldest first
    std::size_t bytes = 0;               ///< their bytes together
  };
  /// Nothing when `held` >= `current`; the kept updates after `held` when the ring still has
  /// the first one missing (held + 1); a resync otherwise.
  catch_up_plan catch_up(std::uint64_t held, std::uint64_t current) const;

  /// The oldest version kept (meaningful when not empty): older updates can be dropped.
  std::uint64_t oldest() const { return kept_.front().first; }
  bool empty() const { return kept_.empty(); }
  std::size_t size() const { return kept_.size(); }
  /// The bytes of the updates kept.
  std::size_t bytes() const { return bytes_; }

private:
  std::size_t max_updates_, max_bytes_;
  std::deque<std::pair<std::uint64_t, std::size_t>> kept_; ///< (version, bytes), oldest first
  std::size_t bytes_ = 0;
};

} // namespace dsq
