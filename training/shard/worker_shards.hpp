#pragma once

// A sharded worker's K server connections as one server for its worker_core (--servers=K > 1;
// net/PROTOCOL.md, "Shards"). Shard 0 is the leader (membership, grants, data, the end), shards
// 1..K−1 are followers, each owning a key range (key_ranges.hpp). Free of CAF: the adapter hands
// each message with the shard it came from and the time, and carries out the effects
// (worker_shard_effects.hpp). With K = 1 the adapter does not use this class at all.
//
// Driving it (the adapter, K > 1): from the leader's welcome on (sharded(w)), every message of
// shard k's connection goes to on_<message>(k, ...), a connection's end to on_shard_lost(k), the
// retry timer to on_retry_timer, a push to push(); worker_core's other events (start, the
// straggler, heartbeat and reconnect timers, a reconnect, leave, compute_failed) are called on
// the core as without shards and their effects handed to route(). gradient_due() and compute()
// stay the core's.
//
// The rules:
// - Welcome. The leader's welcome (its `shards` names K, the ranges and the followers'
//   endpoints) is held; the worker connects to each follower (`connect`) and registers with it
//   as returning under the leader's id (send_register{returning, previous_id = id}). Each
//   follower's welcome must name the same worker id and version as the leader's, and hold its
//   range's slice of the model (and momentum): anything else stops the worker with an error
//   naming the shard. When all K are in, worker_core gets one welcome: the K slices joined in
//   range order. Update slices that arrive meanwhile are kept (newer than the welcome).
// - Pushes. worker_core's push holds the K slice payloads (sliced_payload.hpp); each shard gets
//   its slice as a gradient_push with `shard = k` (same worker, step, grant and loss; the model
//   digest and the state only on shard 0's). The slices are kept until every shard acked them,
//   or worker_core stops waiting for that push. worker_core hears the ack of a key only when all
//   K shards acked it (or a later key). A resend asked by shard k sends slice k again (the same
//   bytes); any other resend of worker_core sends the slices not yet acked.
// - Probes go to every shard: with the push's key to the shards that have not acked it, with 0
//   (no push awaited) to those that have, so that each shard's answer (`sent`) shows the update
//   slices it lost. worker_core hears `sent` as the minimum over the shards of the latest each
//   said it sent (nothing until every shard answered once); its status (catch-up) request goes
//   to every shard. Before the welcome only the leader is probed (the followers do not know the
//   worker yet), and its answer reaches worker_core as it is.
// - Updates. The slice updates of version v (model_update with shard = k) are held until all K
//   are in; then worker_core gets one model_update of v whose payload is the K slices joined in
//   shard order (it applies versions in order itself). A slice of a version worker_core already
//   holds or was already given, or a second copy of a slice, is ignored. A slice more than
//   max_versions_ahead past the worker's version is an error naming its shard: the others
//   would have to have lost that many updates, far beyond what a server's catch-up ring
//   resends.
// - Resync: the K resync welcomes of one version (the leader's and each follower's) are joined
//   as a welcome is, then given to worker_core as one resync. Parts of other versions wait (the
//   four latest versions): a resync completes only when every shard sends one at that version.
//   Only the leader decides a resync, at its version, and orders the followers to send their
//   part at that version (member_change with resync): the K parts meet.
// - Grants that come while the welcome is assembled are kept and handed to worker_core right
//   after it takes the welcome (it would drop them before).
// - Leader only: grants, data chunks, reshards, heartbeats, leave, data requests, registration.
//   The leader's shutdown, reject and loss are worker_core's, as without shards.
// - A follower's loss or farewell stops the worker with an error naming it ("lost shard 2 of 3
//   (HOST:PORT)"), unless the worker already holds the run's last version, or the follower's
//   farewell said the run ended (no error: a run stopped early, by signal): then the leader's
//   farewell follows, and only the leader's loss would end the worker. A follower that leaves a
//   probe unanswered for --server-timeout stops the worker the same way (the leader may answer
//   meanwhile: worker_core alone would not see the silence).

#include "training/messages.hpp"
#include "training/shard/worker_shard_effects.hpp"
#include "training/worker/worker_core.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dsq {

class worker_shards {
public:
  using time_point = worker_core::time_point;
  using duration = worker_core::duration;

  /// How far past the worker's version a slice update may be (see the rules above).
  static constexpr std::uint64_t max_versions_ahead = 1024;
  /// Grants kept while the welcome is assembled (a leader sends one, or one per probe).
  static constexpr std::size_t max_early_grants = 16;

  /// True if `w` (the leader's welcome) makes the worker sharded: the adapter then makes a
  /// worker_shards and hands it every event from that welcome on.
  static bool sharded(const welcome& w) { return w.shards.count() > 1; }

  /// The multiplexer in front of `core` (which must outlive it). `server_timeout`: a follower
  /// that leaves a probe unanswered this long ends the worker (zero: never).
  worker_shards(worker_core& core, duration server_timeout);

  // -- messages from shard `shard` ---------------------------------------------------------------
  /// True if handing `w` from `shard` now gives worker_core its welcome (the adapter says
  /// "starting" to the leader before, as without shards, when the core loads its data then).
  bool welcome_completes(std::uint32_t shard, const welcome& w) const;
  /// (welcome_atom, w) from `shard`.
  worker_shard_effects on_welcome(std::uint32_t shard, welcome& w, time_point now);
  /// (update_atom, u) from `shard`.
  worker_shard_effects on_update(std::uint32_t shard, model_update& u, time_point now);
  /// (ack_atom, key) from `shard`.
  worker_shard_effects on_ack(std::uint32_t shard, std::uint64_t key, time_point now);
  /// (resend_atom, key) from `shard`.
  worker_shard_effects on_resend(std::uint32_t shard, std::uint64_t key, time_point now);
  /// (sent_atom, latest) from `shard`.
  worker_shard_effects on_sent(std::uint32_t shard, std::uint64_t latest, time_point now);
  /// (resync_atom, w) from `shard`.
  worker_shard_effects on_resync(std::uint32_t shard, welcome& w, time_point now);
  /// (grant_atom, version, number): the leader's only.
  worker_shard_effects on_grant(std::uint32_t shard, std::uint64_t version, std::uint64_t number,
                                time_point now);
  /// (chunk_atom, c): the leader's only.
  worker_shard_effects on_data_chunk(std::uint32_t shard, const data_chunk& c, time_point now);
  /// (reshard_atom, a): the leader's only.
  worker_shard_effects on_reshard(std::uint32_t shard, const shard_assignment& a, time_point now);
  /// (shutdown_atom, f) from `shard`.
  worker_shard_effects on_shutdown(std::uint32_t shard, const farewell& f, time_point now);
  /// (reject_atom, f) from `shard`.
  worker_shard_effects on_reject(std::uint32_t shard, const farewell& f, time_point now);

  // -- connections -------------------------------------------------------------------------------
  /// The connection asked for by `connect` is open: register with that follower.
  worker_shard_effects on_shard_connected(std::uint32_t shard, time_point now);
  /// The connection to `shard` is gone (or could not be made). The leader's: worker_core's
  /// on_server_lost.
  worker_shard_effects on_shard_lost(std::uint32_t shard, time_point now);

  // -- worker_core's other events ----------------------------------------------------------------
  /// The retry timer: worker_core's, and the followers' silence.
  worker_shard_effects on_retry_timer(time_point now);
  /// worker_core::push through the multiplexer.
  worker_shard_effects push(gradient_push p, time_point started, time_point now);
  /// Routes what worker_core returned for any other event (start, the straggler, heartbeat and
  /// reconnect timers, a reconnect, leave, compute_failed).
  worker_shard_effects route(worker_effects effects, time_point now);

  // -- state -------------------------------------------------------------------------------------
  /// K (0 before the leader's welcome).
  std::uint32_t count() const { return count_; }
  /// Where follower `shard` is ("" within one process, or before the leader's welcome).
  std::string endpoint(std::uint32_t shard) const;
  /// True while the welcome is being assembled (the leader's is held).
  bool assembling() const { return leader_welcome_.has_value(); }
  /// Versions of which some slices are held, waiting for the others.
  std::size_t held_versions() const;
  /// True once the multiplexer stopped the worker, or passed worker_core's stop on.
  bool stopped() const { return stopped_; }

private:
  using payload = std::vector<std::uint8_t>;

  /// A version's slice updates as they arrive.
  struct held_update {
    std::vector<std::optional<payload>> slices;
    std::uint32_t count = 0;
    bool given = false; ///< worker_core got it (it may wait in the core's sequencer)
  };
  /// The slices of the push worker_core waits to hear about.
  struct kept_push {
    std::uint64_t key = 0;
    std::vector<gradient_push> slices;
  };

  /// "shard 2 of 3 (HOST:PORT)".
  std::string name(std::uint32_t shard) const;
  worker_shard_effects fail(std::string why);
  /// `shard` said something: it answers.
  void heard(std::uint32_t shard);
  /// Starts a new membership from the leader's welcome `w`: the K connections and registrations.
  worker_shard_effects begin_assembly(welcome& w, time_point now);
  /// Checks a follower's welcome (or resync) `w` from `shard` against the leader's `lead`.
  std::optional<std::string> mismatch(std::uint32_t shard, const welcome& w,
                                      const welcome& lead) const;
  /// The K welcomes (leader's first) joined into one full welcome.
  welcome join(std::vector<welcome>& parts) const;
  worker_shard_effects finish_assembly(time_point now);
  /// Gives worker_core the versions whose K slices are all in.
  void give_complete(time_point now, worker_shard_effects& out);
  /// Drops what worker_core no longer needs: held versions it holds, a push it stopped waiting for.
  void prune();
  /// The ack worker_core may hear: the least key every shard acked, once all did.
  std::optional<std::uint64_t> merged_ack() const;
  void route_into(worker_effects effects, time_point now, worker_shard_effects& out);
  void send_slices(const kept_push& kept, worker_shard_effects& out, bool unacked_only) const;
  /// True if the worker holds the run's last version: a follower's end is no error then.
  bool finished() const;

  worker_core& core_;
  duration server_timeout_;
  std::uint32_t count_ = 0;
  shard_map map_;
  std::uint32_t id_ = 0;
  std::uint64_t total_steps_ = 0;
  std::optional<welcome> leader_welcome_;         ///< held while assembling
  std::vector<std::optional<welcome>> followers_; ///< their welcomes, while assembling
  std::vector<bool> connected_;                   ///< per shard
  std::vector<bool> ended_;       ///< per shard: said goodbye with the run's end (no error)
  std::optional<kept_push> kept_; ///< the push awaited
  std::vector<std::optional<std::uint64_t>> acked_; ///< per shard: the latest key it acked
  std::vector<std::optional<std::uint64_t>> sent_;  ///< per shard: the latest it said it sent
  std::map<std::uint64_t, held_update> held_;       ///< by version
  /// The leader's grants (version, number) that came while the welcome was assembled, handed to
  /// worker_core once it took the welcome.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> early_grants_;
  /// Resync welcomes by version, per shard.
  std::map<std::uint64_t, std::vector<std::optional<welcome>>> resyncs_;
  /// Per shard: since when a probe to it is unanswered (nothing heard from it since).
  std::vector<std::optional<time_point>> unanswered_;
  bool stopped_ = false;
};

} // namespace dsq
