#pragma once

// The parameter server's whole run as a state machine without actors: it takes events (a
// registration, a push, a probe, a heartbeat, a departure, a timer, an evaluation's answer, a
// stop, the loss of the network) with the time they happened, and returns effects
// (server_effects.hpp): messages to send to whom, evaluations to ask for, timers to arm,
// whether to stop. Checkpoint files and the run's record it writes itself (checkpoint.hpp,
// run_reporter.hpp). actors/parameter_server.cpp receives, sends and keeps the time; the rules
// are here, tested in tests/training/test_server_core.cpp.
//
// A run waits (for its quorum, or for the workers of the checkpoint it resumed from), trains
// (the round policy decides when pushes make an update; apply_round applies one), and finishes
// (farewells, the last evaluation, the goodbye wait, the summary). One class in three files:
// server_core.cpp (set-up, registration, probes, departures, liveness), server_rounds.cpp
// (pushes and rounds), server_end.cpp (the end).

#include "config/method.hpp"
#include "training/divergence_probe.hpp"
#include "training/membership.hpp"
#include "training/push_check.hpp"
#include "training/resend/catch_up_budget.hpp"
#include "training/resend/push_ledger.hpp"
#include "training/resend/resend_allowance.hpp"
#include "training/resend/update_ring.hpp"
#include "training/round_policy.hpp"
#include "training/run_reporter.hpp"
#include "training/server/server_effects.hpp"
#include "training/server/server_setup.hpp"
#include "training/server/shard_leader.hpp"
#include "training/server/sharded_krum.hpp"
#include "training/shard/checkpoint_cut.hpp"
#include "training/update_engine.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dsq {

/// A worker's registration: the hello without its actor handle, which the actor turned into
/// `peer`.
struct registration {
  peer_id peer = 0;
  std::uint32_t protocol = protocol_version;
  std::string host; ///< for logs only
  bool returning = false;
  std::uint32_t previous_id = 0;
};

class server_core {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Sets up the run (the model, resumed or not, the policy, the record); `now`: when the
  /// server started to wait for workers.
  server_core(server_setup setup, time_point now);

  /// The first console lines and the first liveness timer.
  server_effects start();
  /// The run's header line: method, mode, the workers it starts with, model, steps, data and
  /// this process's SIMD level.
  std::string header() const;

  // -- events from workers (`from`: the sender's peer, if the actor knows it) ------------------

  /// A registration that the actor let through (the sender may register that actor).
  server_effects registered(const registration& r, time_point now);
  /// A push; the core checks that `from` is the worker it names.
  server_effects pushed(std::optional<peer_id> from, const gradient_push& p, time_point now);
  /// A sign of life.
  server_effects heartbeat(std::optional<peer_id> from, time_point now);
  /// A worker took its welcome and starts up (loads its data, builds its model) before it can
  /// train: --worker-timeout does not count until its next message, for a while at most
  /// (startup_allowance).
  server_effects starting(std::optional<peer_id> from, time_point now);
  /// A worker that waited asks what became of its push (`pushed`: its key + 1, or 0).
  server_effects probed(std::optional<peer_id> from, std::uint64_t pushed, time_point now);
  /// A worker lacks the updates after `held`.
  server_effects status(std::optional<peer_id> from, std::uint64_t held, time_point now);
  /// A welcomed worker without the run's data asks for a chunk of the training set. Answered
  /// only for a member, for this run's data set, with at most data_window chunks sent ahead of
  /// those it says it holds; anybody else gets no answer. Until every chunk went out, the
  /// worker still starts up (starting).
  server_effects data_requested(std::optional<peer_id> from, const data_request& r, time_point now);
  /// Worker `id` says it leaves (only `from` itself may).
  server_effects left(std::optional<peer_id> from, std::uint32_t id, time_point now);
  /// Worker `id` leaves because it cannot go on (its model returned what cannot be trained on),
  /// `why` in its words, made fit for a log line (only `from` itself may say so). Logged and
  /// counted (worker_failures); dsq local fails with it, dsq server when no worker is left.
  server_effects worker_failed(std::optional<peer_id> from, std::uint32_t id,
                               const std::string& why, time_point now);

  // -- events from the actor ------------------------------------------------------------------

  /// `peer`'s connection is closed (its actor is down); `why` in words.
  server_effects connection_closed(peer_id peer, const std::string& why, time_point now);
  /// The loss deferred by defer_loss: the worker departs.
  server_effects connection_lost(peer_id peer, const std::string& why, time_point now);
  /// The liveness timer.
  server_effects tick(time_point now);
  /// The goodbye timer.
  server_effects goodbye_tick(time_point now);
  /// This process asks the run to stop (a signal, a test).
  server_effects stop_requested(time_point now);
  /// The network layer is gone: no worker can be reached.
  server_effects network_lost(const std::string& why);
  /// The evaluator's answer about x_step.
  server_effects evaluated(std::uint64_t step, bool with_train, double test_loss,
                           double test_accuracy, double train_loss);
  /// The evaluator failed (`why` in words).
  server_effects evaluation_failed(const std::string& why);
  /// The payload of an update that no recipient and no resend needs any more (its new_update
  /// dropped from the kept ones, its message released), for the next update's bytes
  /// (update_engine::recycle_payload). No effect.
  void recycle_update(std::vector<std::uint8_t> bytes) noexcept;

  // -- events from follower shards (sharded runs, --servers=K > 1; net/PROTOCOL.md "Shards") ---

  /// A follower connected as `peer` asks to be shard j.shard: answered with send_to_shard
  /// {shard_setup}, or refuse_shard. Training starts once all K−1 joined (and the workers).
  server_effects shard_joined(peer_id peer, const shard_join& j, time_point now);
  /// A follower holds the slice of worker h.worker's push h.key: the push counts once every
  /// follower holds it and the leader has its own slice.
  server_effects shard_held(const slice_held& h, time_point now);
  /// A follower refused the slice of a push (or a worker flooded it): a bad push, the worker is
  /// expelled. With r.resync the worker lacks updates the follower no longer keeps: the leader
  /// resyncs it at its version (its own welcome, and member_change{resync} to the followers).
  server_effects shard_refused(const slice_refused& r, time_point now);
  /// A follower's update of its slice (u.shard, u.version), for the leader's replica: an
  /// evaluation of step s is asked for once every range reached s.
  server_effects shard_updated(const model_update& u, time_point now);
  /// A follower's report at the end (answer to shard_end).
  server_effects shard_reported(const shard_report& r, time_point now);
  /// Protocol 10: what follower t.shard moved for version t.version, for that version's row
  /// (rows wait for every follower's bytes).
  server_effects shard_traffic(const slice_traffic& t, time_point now);
  /// Follower `shard`'s connection is gone (`why`): the run ends as failed, naming it (at the
  /// end, it only stops being waited for).
  server_effects shard_lost(std::uint32_t shard, const std::string& why, time_point now);
  /// The timer of the end's wait for the followers' reports (server_timer::shard_reports).
  server_effects shard_reports_tick(time_point now);
  /// A follower wrote (or failed to write) its slice file of a checkpoint's step: the leader's
  /// checkpoint of that step is written once every follower did (a failure ends the run).
  server_effects shard_saved(const slice_saved& s, time_point now);
  /// Krum with K > 1 (server_krum.cpp): a follower's partial distances for the round that waits
  /// for them; once all are in, the round is applied with the push Krum chose. A refusal or a
  /// malformed answer ends the run as failed.
  server_effects shard_distances(const distance_reply& r, time_point now);

  // -- what the actor and tests may read ------------------------------------------------------

  /// The worker id of `peer` (member or joiner), if any.
  std::optional<std::uint32_t> worker_of(peer_id peer) const;
  /// True while the core may still name `peer` in an effect or ask about it: a member, a
  /// joiner, or a worker told to go whose connection is open. The actor may forget the others.
  bool knows(peer_id peer) const;
  /// The model's version.
  std::uint64_t version() const { return engine_.version(); }
  /// The number of shards (1: unsharded).
  std::uint32_t shard_count() const { return shards_ ? shards_->count() : 1; }
  /// The key ranges of a sharded run (empty when unsharded).
  std::vector<key_range> ranges() const {
    return shards_ ? shards_->ranges() : std::vector<key_range>{};
  }
  /// Waiting for workers, training, or finishing.
  enum class phase { waiting, training, finishing };
  phase now_in() const { return phase_; }
  /// The workers of the run.
  const membership<peer_id>& members() const { return members_; }
  /// The counters so far.
  const run_summary& totals() { return report_.totals(); }

private:
  // registration and the start
  std::optional<std::string> refusal_of(const registration& r) const;
  void admit(const registration& r);
  std::string start_condition() const;
  void maybe_start();
  void start_training();
  // rounds
  void accept_push(std::uint32_t id, const gradient_push& p);
  std::optional<received_push> checked_push(std::uint32_t id, const gradient_push& p);
  void drain();
  /// `chosen`: Krum with K > 1, the push the summed distances chose (server_krum.cpp).
  void apply_round(round r, std::optional<std::size_t> chosen = std::nullopt);
  bool checkpoint_before_round();
  const compressed_message& aggregate(round& r, step_record& row,
                                      std::optional<std::size_t> chosen);
  void send_update(std::uint64_t version, std::vector<std::uint8_t> payload, std::size_t bytes);
  void record_row(step_record row);
  void send_grants();
  void cross_boundary(const std::uint64_t* update);
  welcome make_welcome(std::uint32_t id, const shard_assignment& shard);
  void catch_up(std::uint32_t id, std::uint64_t held);
  void resync(std::uint32_t id);
  bool within_allowance(std::uint32_t id, std::uint64_t bytes);
  void request_evaluation(bool with_train);
  void save_checkpoint(std::map<std::uint32_t, worker_snapshot> workers = {});
  // sharded runs (server_shards.cpp)
  void set_up_shards();
  void offer_push(received_push r, bool has_state, const worker_snapshot& state);
  void offer_if_held(std::uint32_t id, std::uint64_t key);
  void commit_round(const round& r, std::optional<std::size_t> chosen);
  // Krum with K > 1 (server_krum.cpp)
  bool ask_distances(round& r);
  void announce(std::uint32_t id, bool joined);
  void to_followers(const shard_message& m);
  void request_full_evaluation(bool with_train);
  void emit_ready_evaluations();
  void end_shards();
  bool awaiting_shard_reports() const;
  void write_sharded_checkpoint(const checkpoint& whole);
  /// The full model as the leader knows it: x, or with shards its replica of every range.
  Eigen::VectorXf full_model() const;
  /// The x this server's engine updates: the model, or with shards range 0 of it.
  const Eigen::VectorXf& own_x() const { return engine_.x(); }
  // departures and liveness
  void depart(std::uint32_t id, const std::string& why);
  void expel(std::uint32_t id, const std::string& why, bool may_rejoin = false);
  void check_resume_wait();
  void check_liveness();
  bool watches_idleness() const;
  void check_idle();
  bool check_diverged(double loss);
  bool end_if_diverged(std::uint32_t id, const std::string& what);
  void diverge_on_evaluation(std::uint64_t step, double test_loss);
  std::optional<std::uint32_t> training_member(std::optional<peer_id> from);
  void heard_from(std::uint32_t id);
  // the end
  void finish(std::string failure = {});
  bool stop_if_observer_asked();
  void maybe_quit();
  run_summary summary();

  void send(std::uint32_t id, worker_message what);
  void send_peer(peer_id peer, worker_message what) {
    out_.push_back(send_to{peer, std::move(what)});
  }
  server_effects take();

  server_setup opts_;
  method_switches method_;
  update_engine engine_; ///< the model, or in a sharded run its range 0
  /// Sharded runs: the followers' joins, held slices, replica and reports (engine_ then owns
  /// range 0 only). Empty when unsharded.
  std::optional<shard_leader> shards_;
  /// Sharded runs: pushes whose leader slice is in and checked, waiting for every follower's
  /// slice_held; with the state they carried.
  struct waiting_push {
    received_push push;
    bool has_state = false;
    worker_snapshot state;
  };
  std::map<std::pair<std::uint32_t, std::uint64_t>, waiting_push> waiting_;
  bool shard_reports_over_ = false; ///< the end's wait for the followers' reports is over
  /// Sharded runs with --checkpoint: the cuts waiting for the followers' slice files.
  std::optional<checkpoint_cut> cut_;
  /// Krum with K > 1: the distances of the round in wait, and that round (applied once every
  /// follower's distances are in; no other round is released meanwhile).
  std::optional<sharded_krum> krum_;
  std::optional<round> krum_round_;
  std::unique_ptr<round_policy> policy_;
  membership<peer_id> members_;
  std::uint64_t total_steps_ = 0;
  run_reporter report_;
  push_check checks_;
  divergence_probe probe_;     ///< judges a bad push: diverged model or bad worker
  update_ring ring_;           ///< the latest updates sent, for workers that miss some
  push_ledger ledger_;         ///< the latest push accepted from each worker
  catch_up_budget budget_;     ///< what each worker may ask to be sent again
  resend_allowance allowance_; ///< the bytes each worker may be sent again, over time
  time_point now_;             ///< when the event being handled happened
  phase phase_ = phase::waiting;
  std::uint64_t first_version_ = 0; ///< where this run started (non-zero when resumed)
  std::size_t resumed_members_ = 0; ///< members of the checkpoint resumed from, with states
  bool given_up_waiting_ = false;   ///< some of them did not come back in time
  time_point waiting_since_;
  std::map<std::uint32_t, time_point> last_heard_;    ///< any message
  std::map<std::uint32_t, time_point> last_progress_; ///< entered, or pushed
  /// Since when a training dsq server has had no worker at all (--idle-timeout).
  std::optional<time_point> idle_since_;
  /// Workers that said they start up, and since when (starting); their next message ends it.
  std::map<std::uint32_t, time_point> starting_since_;
  /// Chunks of the training set sent to each worker that asked (data_requested).
  std::map<std::uint32_t, std::uint64_t> data_sent_;
  /// Workers that get the data from this server and have not been sent all of it: still
  /// starting up, whatever else they send.
  std::set<std::uint32_t> fetching_;
  /// Sync with checkpoints: workers attach their state to pushes of steps that are multiples
  /// of this, and the server writes the checkpoint of that step with them (0: never).
  std::uint64_t state_every_ = 0;
  /// The states attached to the pushes of the current step, by worker id.
  std::map<std::uint32_t, worker_snapshot> collected_;
  /// Resumed: the workers' states from the checkpoint, handed back to each as it returns.
  std::map<std::uint32_t, worker_snapshot> returning_states_;
  std::size_t evals_in_flight_ = 0;
  std::string failure_;
  bool stopped_early_ = false;
  /// The observer (server_setup::on_row) returned false, or threw (its message).
  bool observer_said_stop_ = false;
  std::string observer_failure_;
  std::optional<std::uint64_t> diverged_at_;
  /// Workers told to go whose connection is still open (await_goodbyes).
  std::set<peer_id> told_to_go_;
  /// Every worker id with a push applied (the summary's `workers`: a worker back under its id
  /// counts once; a registration that never trained, refused or failed, not at all).
  std::set<std::uint32_t> trained_;
  bool goodbye_wait_over_ = false;
  time_point farewells_sent_;
  bool said_slow_goodbyes_ = false;
  server_effects out_; ///< the effects of the event being handled
};

} // namespace dsq
