#pragma once

// Krum in a sharded run (--servers=K > 1, --aggregate=krum:f=F; net/PROTOCOL.md "Shards",
// rule 7): what the leader knows of one round's distances while it waits for them. Krum scores
// each push by its squared distances to the other pushes over the whole vector; each shard
// holds one range of every push, and a squared distance is the sum over the ranges of the
// squared distances of the slices. So the leader asks every follower for its partial distances
// over the round's pushes (distance_query), adds them to its own over range 0, and chooses as
// the unsharded Krum does (krum_choice_of). Plain data and arithmetic: when to ask and what to
// do with the choice is server_core's (server_krum.cpp).
//
// Summation order: each shard sums its range's squared coordinate differences in double, in
// increasing coordinate order from 0 (pairwise_squared_distances); the leader adds the K
// partial sums in shard order, 0 first, whatever order the answers arrive in. With K = 1 this
// is the unsharded sum, bit for bit.

#include "training/shard/shard_messages.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace dsq {

class sharded_krum {
public:
  /// Krum resisting `f` members over `shards` shards (K > 1).
  sharded_krum(std::size_t f, std::uint32_t shards);

  /// True when a round of `n` pushes is Krum's to choose (n >= 2F + 3). A round with fewer
  /// (departures) takes the median, which every shard forms on its own range: no query.
  bool chooses(std::size_t n) const;

  /// Waits for the distances of the pushes `q` names; `own` = the leader's partial distances
  /// over range 0 (pairwise_squared_distances of its slices, in q's order). Throws
  /// std::logic_error while another round waits, std::invalid_argument if `own` does not fit.
  void ask(const distance_query& q, std::vector<double> own);
  /// True while a round waits for distances.
  bool waiting() const { return query_.has_value(); }
  /// The version the waiting round will make (0 when none waits).
  std::uint64_t version() const { return query_ ? query_->version : 0; }

  /// Follower r.shard's answer. Nothing for an answer to another version (none is asked but the
  /// waiting one) or while followers are missing; the index of the chosen push (in the query's
  /// order) once all K - 1 answered, and then the wait is over. Throws std::invalid_argument
  /// naming the problem for a refusal, an answer of the wrong size, from no follower, or twice.
  std::optional<std::size_t> answered(const distance_reply& r);

  /// The summed distances of the round once every shard is in (tests; empty before).
  const std::vector<double>& total() const { return total_; }

  /// Gives up the waiting round (the run ends).
  void drop();

private:
  std::size_t f_;
  std::uint32_t shards_;
  std::optional<distance_query> query_;
  std::vector<std::optional<std::vector<double>>> partial_; ///< [k]: shard k's distances
  std::vector<double> total_;
};

} // namespace dsq
