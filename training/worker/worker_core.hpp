#pragma once

// The worker's side of the protocol as a state machine, free of CAF (net/PROTOCOL.md; the
// message flow is listed in actors/worker.hpp): it takes each event with the time it happened
// and returns what the adapter must do (worker_effects.hpp). It decides when to compute and push
// (the push policy and the server's grants), holds a straggler's push back, applies updates in
// order, resends through the retransmit timer, reconnects to a lost server and leaves.
//
// Computing is a step of its own, timed by the adapter: after every event it asks
// gradient_due(), and if so calls compute() and hands the push to push() with the times the
// computation started and ended (the straggler's delay and the round trip depend on both).

#include "config/data_origin.hpp"
#include "training/data_assembler.hpp"
#include "training/messages.hpp"
#include "training/push_policy.hpp"
#include "training/resend/retransmit_timer.hpp"
#include "training/training_setup.hpp"
#include "training/update_sequencer.hpp"
#include "training/worker/worker_effects.hpp"
#include "training/worker_engine.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace dsq {

/// What a worker knows of itself before its welcome.
struct worker_settings {
  /// Data and model when they are already in the process; empty: loaded from the configuration
  /// of the welcome.
  training_setup setup;
  bool verbose = false; ///< print progress of its own
  /// true: a lost server is looked for (worker_effect::find_server); false: losing it ends the
  /// worker with an error.
  bool reconnects = false;
  /// A waiting worker whose probe goes unanswered this long ends with an error (zero: never),
  /// unless it reconnects: then it says so and keeps probing for reconnect_timeout more.
  std::chrono::steady_clock::duration server_timeout{};
  /// With `reconnects`: how long a worker goes on trying to reach a server that went silent
  /// (stopped, hung, cut off behind an open connection) after server_timeout, before it ends
  /// with an error (--reconnect-timeout). A server that answers again finds the worker as it
  /// was: still a member under its id, unless the server removed it meanwhile.
  std::chrono::steady_clock::duration reconnect_timeout{};
  /// This host's --data-dir: where the run's data is looked for when the welcome's
  /// configuration is loaded (a node-local option, never sent by the server).
  std::string data_dir;
  /// --data: where a worker that loads its own data takes it from (its files, the server, or
  /// its files if they are the server's data).
  data_origin source = data_origin::automatic;
  /// This process's message limit (--max-message-bytes; 0: none): data chunks stay below it.
  std::uint64_t message_limit = 0;
};

class worker_core {
public:
  using clock = std::chrono::steady_clock;
  using duration = clock::duration;
  using time_point = clock::time_point;

  /// A worker created at `now`, not yet registered.
  worker_core(worker_settings settings, time_point now);

  /// The worker starts: registers itself (`self_register`; else someone registered it on its
  /// behalf) and starts its heartbeat.
  worker_effects start(bool self_register, time_point now);

  // -- the server's messages ---------------------------------------------------------------------
  /// True if a welcome now would be taken (not a copy of one already taken).
  bool takes_welcome() const { return (!joined() && !fetching()) || registered_; }
  /// True if taking a welcome now loads the data set first (a worker process, not one of dsq
  /// local's): the server is told before (starting_atom), so that a slow load on a busy
  /// machine does not count against --worker-timeout.
  bool starts_up_on_welcome() const { return takes_welcome() && !has_data(settings_.setup); }
  /// (welcome_atom, w): join the run (or, back after a server restart, continue in it).
  worker_effects on_welcome(welcome& w);
  /// (chunk_atom, c): a chunk of the run's training set, asked for while the worker gets its
  /// data from the server; the last one makes the worker join.
  worker_effects on_data_chunk(const data_chunk& c, time_point now);
  /// (reshard_atom, shard): sample from `shard` from now on.
  worker_effects on_reshard(const shard_assignment& shard);
  /// (update_atom, u): apply every update that is next in line, in version order.
  worker_effects on_update(model_update& u, time_point now);
  /// (grant_atom, version, number): async, one gradient on x_(>= version).
  worker_effects on_grant(std::uint64_t version, std::uint64_t number, time_point now);
  /// (ack_atom, key): the push of `key`, or a later one, is in the server's hands.
  worker_effects on_ack(std::uint64_t key, time_point now);
  /// (resend_atom, key): the server answered a probe without the push of `key`: it was lost.
  worker_effects on_resend(std::uint64_t key);
  /// (sent_atom, latest): the server had sent every update up to `latest` before this answer.
  worker_effects on_sent(std::uint64_t latest);
  /// (resync_atom, w): too far behind for the server's ring: the full model.
  worker_effects on_resync(welcome& w, time_point now);
  /// (shutdown_atom, f): the run ends for this worker, or (f.may_rejoin) it may join anew.
  worker_effects on_shutdown(const farewell& f, time_point now);
  /// (reject_atom, f): the server declined this worker.
  worker_effects on_reject(const farewell& f);

  // -- the connection
  // ------------------------------------------------------------------------------
  /// The server is gone (its actor is down).
  worker_effects on_server_lost();
  /// A reconnect gave a new server (the adapter already talks to it): register again, asking for
  /// this worker's id back.
  worker_effects on_reconnected(time_point now);
  /// A reconnect gave back the server that died (a connection cache not yet told of its death):
  /// ask again a little later, within bounds.
  worker_effects on_stale_reconnect();
  /// (leave_atom) from anyone: tell the server, then wait for its farewell.
  worker_effects on_leave();

  // -- timers ------------------------------------------------------------------------------------
  worker_effects on_retry_timer(time_point now);
  worker_effects on_straggler_due(time_point now);
  worker_effects on_heartbeat_timer();
  worker_effects on_reconnect_timer();

  // -- computing ---------------------------------------------------------------------------------
  /// True if the worker owes the server a gradient now (the push policy says so, and no
  /// straggler's push is waiting).
  bool gradient_due() const;
  /// Computes the gradient that is due (see gradient_due()) and marks it done with the policy.
  /// Throws what worker_engine::compute() throws (model_output_error: a broken model).
  gradient_push compute();
  /// compute() threw `why`: the worker stops with that error. A member tells the server why
  /// first (a leave with the reason), so that the run's log and summary say it, then ends.
  worker_effects compute_failed(std::string why);
  /// Sends `p`, computed from `started` until `now`, or (a straggler) holds it back for
  /// (FACTOR − 1) times that long, still applying updates meanwhile.
  worker_effects push(gradient_push p, time_point started, time_point now);
  /// The payload of a push that is no longer needed (acknowledged, its message released), for
  /// the next push's bytes (worker_engine::recycle_payload); dropped when not joined.
  void recycle_payload(std::vector<std::uint8_t> bytes) noexcept;

  /// True while the worker gets the run's data from the server (welcomed, not yet joined).
  bool fetching() const { return fetch_.has_value(); }
  /// The data on its way from the server (fetching() only).
  const data_assembler& fetch() const { return *fetch_; }
  /// True once welcomed (and not removed since).
  bool joined() const { return engine_.has_value(); }
  /// The version of the replica (joined only).
  std::uint64_t version() const { return engine_->version(); }
  /// The engine (joined only).
  const worker_engine& engine() const { return *engine_; }
  /// The resend bookkeeping: the unacknowledged push, the round trip, the backoff.
  const retransmit_timer& retransmit() const { return timer_; }

private:
  void adopt(welcome& w);
  /// Loads this host's copy of `w`'s data as --data says, or says why the data must come from
  /// the server instead. Throws (one line naming the fix) when --data=local cannot be met.
  std::optional<std::string> load_own_data(const welcome& w);
  void start_fetch(welcome& w, const std::string& why, worker_effects& out);
  void ask_for_chunks(worker_effects& out);
  /// The data arrived whole: the run's training set and the model sized to it.
  void finish_fetch();
  /// "worker 3: joined at step 0 of 100, shard 1/4 (15000 samples)".
  std::string joined_line(const welcome& w) const;
  void receive_update(model_update& u, time_point now, worker_effects& out);
  void progressed(time_point now, worker_effects& out);
  void send(gradient_push p, time_point now, worker_effects& out);
  void register_with_server(bool returning, time_point now, worker_effects& out);
  worker_effects stop(bool error, std::string reason);
  /// A message came from the server: the silence count stops; a worker that had said the
  /// server was silent says that it answers again.
  worker_effects heard_from_server();
  /// "worker 3" once welcomed, "worker" before.
  std::string who() const;
  /// True if the worker waits for the server: for its welcome (only the silence rule needs
  /// probes then), an answer to its push, an update or a grant.
  bool waiting() const;

  worker_settings settings_;
  std::uint32_t id_ = 0;
  run_config cfg_;
  std::uint64_t total_steps_ = 0;
  std::uint64_t state_every_ = 0; ///< attach the state to pushes of these steps (welcome)
  std::optional<worker_engine> engine_;
  update_sequencer updates_;
  std::optional<push_policy> policy_;
  double slow_ = 1;                      ///< --slow-worker factor of this worker
  std::optional<gradient_push> delayed_; ///< a straggler's push, waiting for its send time
  retransmit_timer timer_;
  bool registered_ = false; ///< a welcome is expected (registered, not yet welcomed)
  bool orphaned_ = false;   ///< lost the server, waiting for a reconnect
  int stale_reconnects_ = 0;
  /// The worker said that the server is silent (since then, at the time given) and waits for
  /// it to answer again for --reconnect-timeout.
  std::optional<time_point> silent_since_;
  bool stopped_ = false;  ///< a stop effect was returned: nothing more is done
  bool own_data_ = false; ///< the data was loaded by this worker (checked against each welcome)
  /// While the data comes from the server: the chunks so far, and the welcome to take then.
  std::optional<data_assembler> fetch_;
  std::optional<welcome> fetch_welcome_;
  std::uint64_t fetch_reported_ = 0; ///< tenths of the data reported on the console
  /// Grants the server sent while the data came, taken once the worker joined.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> fetch_grants_;
};

} // namespace dsq
