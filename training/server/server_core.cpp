// server_core: the run's set-up, registrations and the start, probes and heartbeats,
// departures and liveness. Rounds: server_rounds.cpp; the end: server_end.cpp.

#include "training/server/server_core.hpp"

#include "base/log_text.hpp"
#include "base/simd/simd_dispatch.hpp"
#include "model/dataset_bytes.hpp"
#include "training/make_round_policy.hpp"

#include <fmt/format.h>

#include <string_view>

namespace dsq {

namespace {

/// Bounds of the ring of recent updates: older gaps get the full model.
constexpr std::size_t recent_updates_max = 256;
constexpr std::size_t recent_bytes_max = std::size_t{64} << 20;

/// The number of workers a waiting run starts with (--min-workers, else --workers).
std::size_t start_quorum(const run_config& cfg) {
  return cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
}

/// How long a worker that said it starts up (server_core::starting) may stay silent: ten times
/// --worker-timeout, and at least two minutes.
std::chrono::duration<double> startup_allowance(const run_config& cfg) {
  return std::chrono::duration<double>(std::max(10 * cfg.worker_timeout_s, 120.0));
}

/// The liveness timer's period: a quarter of --worker-timeout (of --idle-timeout without one).
std::chrono::milliseconds liveness_period(const run_config& cfg) {
  const double timeout =
      cfg.worker_timeout_s > 0 ? cfg.worker_timeout_s : static_cast<double>(cfg.idle_timeout_s);
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(timeout / 4));
}

std::uint64_t steps_of(const server_setup& s) {
  return total_steps(s.cfg, s.setup.source->train_size());
}

/// `s` with its setup's data source filled in (setups built by hand may hold only the data).
server_setup with_source(server_setup s) {
  s.setup.source = data_of(s.setup);
  return s;
}

/// The samples the divergence probe holds: the training set's, or for data that holds none in
/// memory, one batch of the whole data drawn with the run's seed.
divergence_probe make_probe(const training_setup& setup, std::uint64_t seed) {
  if (const auto* train = setup.source->train_set())
    return divergence_probe{setup.net, *train, seed};
  shard_spec whole;
  whole.batch = std::min(probe_samples, setup.source->train_size());
  whole.seed = seed;
  dataset drawn;
  drawn.num_classes = setup.source->num_classes();
  Eigen::MatrixXf batch; // next() fills a plain matrix
  setup.source->open_shard(whole)->next(batch, drawn.labels);
  drawn.features = std::move(batch);
  return divergence_probe{setup.net, drawn, seed};
}

} // namespace

server_core::server_core(server_setup setup, time_point now)
    : opts_(with_source(std::move(setup))), method_(resolve_method(opts_.cfg)),
      engine_(opts_.cfg, *opts_.setup.net),
      members_(worker_cap(opts_.cfg), opts_.setup.source->train_size()),
      total_steps_(steps_of(opts_)), report_(opts_.log, opts_.verbose, total_steps_, opts_.on_line),
      checks_(method_.uplink, opts_.setup.net->num_parameters(), opts_.cfg.max_push_norm),
      probe_(make_probe(opts_.setup, opts_.cfg.seed)), ring_(recent_updates_max, recent_bytes_max),
      allowance_(run_resend_allowance(opts_.setup.net->num_parameters())), now_(now),
      waiting_since_(now) {
  const auto& cfg = opts_.cfg;
  if (opts_.resume_from) {
    auto& from = *opts_.resume_from;
    if (from.shards && opts_.shards <= 1)
      throw std::invalid_argument(fmt::format(
          "--resume: the checkpoint was written by a run of --servers={}: resume it with "
          "--servers={} and its followers",
          from.shards->ranges.size(), from.shards->ranges.size()));
    // A sharded leader's engine holds range 0: set_up_shards restores it.
    if (!from.shards)
      engine_.restore(from);
    // With the workers' states the run continues exactly: the same ids, shards and residuals.
    if (!from.workers.empty()) {
      members_.restore(from.members);
      returning_states_ = std::move(from.workers);
      resumed_members_ = returning_states_.size();
    }
  }
  set_up_shards();
  first_version_ = version();
  policy_ = make_round_policy(cfg.mode, staleness_bound(cfg));
  if (policy_->collects_worker_states() && !cfg.checkpoint.empty() && cfg.checkpoint_every > 0)
    state_every_ = cfg.checkpoint_every;
  if (opts_.resume_from) // the automatic bound goes on
    checks_.restore_norms(opts_.resume_from->push_norms, opts_.resume_from->push_norm_peak);
  report_.log().keep(opts_.rows);
  if (opts_.on_row)
    // Called inside the log's flush: only notes the answer, which the core acts on once the
    // row's event is handled (stop_if_observer_asked). Every final row is shown, also after a
    // false, so that the observer sees the whole record.
    report_.log().on_final([this](const step_record& row) {
      try {
        if (!opts_.on_row(row))
          observer_said_stop_ = true;
      } catch (const std::exception& e) {
        if (observer_failure_.empty())
          observer_failure_ =
              fmt::format("the run's observer failed at row {}: {}", row.step, e.what());
      }
    });
  report_.start(version());
}

server_effects server_core::start() {
  const auto& cfg = opts_.cfg;
  if (cfg.worker_timeout_s > 0 || watches_idleness())
    out_.push_back(arm_timer{server_timer::liveness, liveness_period(cfg)});
  report_.say(header());
  if (!opts_.setup.note.empty())
    report_.say("dsq: " + opts_.setup.note);
  return take();
}

std::string server_core::header() const {
  const auto& cfg = opts_.cfg;
  // The workers the run waits for before its first step: --min-workers (else --workers), or
  // after a resume with the workers' states, the checkpoint's members.
  const auto starts_with = resumed_members_ > 0 ? resumed_members_ : start_quorum(cfg);
  return fmt::format(
      "dsq: {} ({}), {}, starts with {} worker{}, model {} with {} parameters{}, "
      "{} steps of batch {} per worker, data: {}, simd {}",
      cfg.method, describe(method_), policy_->describe(), starts_with, starts_with == 1 ? "" : "s",
      opts_.setup.net->spec(), opts_.setup.net->num_parameters(),
      shards_ ? fmt::format(" over {} shards", shards_->count()) : std::string{}, total_steps_,
      cfg.batch, opts_.setup.source->description(), name(active_simd_level()));
}

server_effects server_core::take() {
  server_effects effects;
  effects.swap(out_);
  return effects;
}

std::optional<std::uint32_t> server_core::worker_of(peer_id peer) const {
  return members_.find_if([&](peer_id h) { return h == peer; });
}

bool server_core::knows(peer_id peer) const {
  return worker_of(peer).has_value() || told_to_go_.count(peer) > 0;
}

void server_core::send(std::uint32_t id, worker_message what) {
  if (const auto* m = members_.get(id))
    send_peer(m->handle, std::move(what));
}

// -- registration and the start ---------------------------------------------------------------

server_effects server_core::registered(const registration& given, time_point now) {
  now_ = now;
  auto r = given;
  r.host = log_safe(r.host); // the peer's choice: capped and printable before any log line
  auto refuse = [&](std::string why) {
    send_peer(r.peer, farewell_msg{farewell{std::move(why), true}, true});
  };
  if (r.protocol != protocol_version)
    refuse(
        fmt::format("protocol version {} but the server speaks {}", r.protocol, protocol_version));
  else if (phase_ == phase::finishing)
    refuse("the run has finished");
  else if (worker_of(r.peer))
    ; // registered already
  else if (auto why = members_.refusal())
    refuse(*why);
  else
    admit(r);
  return take();
}

void server_core::admit(const registration& r) {
  // A worker of the checkpoint this server resumed from gets its identity (and, in its
  // welcome, its state) back; anybody else is a new worker.
  std::optional<std::uint32_t> back;
  if (r.returning)
    back = members_.admit_returning(r.previous_id, r.peer, r.host);
  else if (shards_ && resumed_members_ > 0 && phase_ == phase::waiting &&
           !members_.expected().empty())
    // A sharded run's workers do not outlive a shard (a follower's loss ends them), so a
    // resumed sharded run is restarted with new worker processes: each takes the seat, and in
    // its welcome the state, of a checkpoint member that is not back, lowest id first.
    back = members_.admit_returning(*members_.expected().begin(), r.peer, r.host);
  auto id = back ? *back : members_.admit(r.peer, r.host);
  if (back) {
    ++report_.totals().returned_workers;
    report_.say(fmt::format("worker {} ({}) is back", id, r.host));
  }
  last_heard_[id] = now_;
  idle_since_.reset(); // somebody came: --idle-timeout counts from the next time nobody is left
  out_.push_back(watch{r.peer});
  if (phase_ == phase::waiting) {
    // dsq server's workers come over the network, one by one, and may never come: say who
    // came. dsq local's come at once.
    if (!back && opts_.elastic)
      report_.say(fmt::format("worker {} ({}) registered; {}", id, r.host, start_condition()));
    return maybe_start();
  }
  ++report_.totals().joins;
  // Sync: a joiner waits for the next step boundary, unless no step is in progress.
  if (policy_->lets_joiner_in_now(members_.members().size())) {
    cross_boundary(nullptr);
    send_grants();
  }
}

/// What a waiting server waits for, in words.
std::string server_core::start_condition() const {
  if (resumed_members_ > 0)
    return fmt::format("the resumed run starts when the checkpoint's workers are back ({} "
                       "missing)",
                       members_.expected().size());
  return fmt::format("{} of the {} needed to start{}", members_.joining().size(),
                     start_quorum(opts_.cfg),
                     shards_ ? fmt::format(" ({} of {} shards joined)", shards_->joined_count(),
                                           shards_->count() - 1)
                             : std::string{});
}

/// Starts training once --min-workers registered; after a resume, once every worker of the
/// checkpoint is back (or stopped being waited for, see check_resume_wait).
void server_core::maybe_start() {
  if (phase_ != phase::waiting)
    return;
  if (shards_ && !shards_->all_joined())
    return; // every key range needs its shard
  const auto present = members_.joining().size();
  if (resumed_members_ > 0) {
    // Resumed with the workers' states: the checkpoint's members, not --min-workers, decide.
    if (members_.expected().empty() || (given_up_waiting_ && present > 0))
      start_training();
    return;
  }
  if (present >= start_quorum(opts_.cfg))
    start_training();
}

void server_core::start_training() {
  phase_ = phase::training;
  report_.start(version());
  step_record initial; // the first row: the initial (or resumed) model
  initial.step = version();
  initial.workers = static_cast<std::uint32_t>(members_.joining().size());
  const bool nothing_to_do = version() >= total_steps_;
  try {
    report_.record(initial, true);
  } catch (const std::exception& e) {
    finish(e.what());
    return;
  }
  request_evaluation(nothing_to_do);
  cross_boundary(nullptr);
  if (nothing_to_do)
    finish();
  else
    send_grants();
}

// -- probes, heartbeats, departures, liveness -------------------------------------------------

server_effects server_core::heartbeat(std::optional<peer_id> from, time_point now) {
  now_ = now;
  if (auto id = from ? worker_of(*from) : std::nullopt)
    heard_from(*id);
  return take();
}

server_effects server_core::starting(std::optional<peer_id> from, time_point now) {
  now_ = now;
  auto id = from ? worker_of(*from) : std::nullopt;
  // Only a member (it has its welcome) starts up; a worker sends this once, on its welcome.
  if (id && phase_ == phase::training && members_.is_member(*id)) {
    last_heard_[*id] = now_;
    starting_since_[*id] = now_;
  }
  return take();
}

/// Any message of worker `id`: alive. If it was starting up, it is done: the clocks of
/// check_liveness start now, as if it had just entered.
void server_core::heard_from(std::uint32_t id) {
  last_heard_[id] = now_;
  if (fetching_.count(id) > 0)
    return; // its heartbeats and probes while the data comes do not end its start-up
  if (starting_since_.erase(id) > 0 && last_progress_.count(id) > 0)
    last_progress_[id] = now_;
}

/// The id of the member that sent a message while training runs, its message counted as a
/// sign of life; nothing for anyone else or at another time.
std::optional<std::uint32_t> server_core::training_member(std::optional<peer_id> from) {
  auto id = from ? worker_of(*from) : std::nullopt;
  if (!id || phase_ != phase::training || !members_.is_member(*id))
    return std::nullopt;
  heard_from(*id);
  return id;
}

server_effects server_core::probed(std::optional<peer_id> from, std::uint64_t pushed,
                                   time_point now) {
  // A worker that has waited a while asks what became of its push (`pushed`: its key + 1, or
  // 0) and of its updates. Its earlier messages came before the probe, so a push not in hand
  // now was lost; the answer goes behind every update sent to it, so the worker can tell a
  // lost update from a slow one (worker.cpp, "retransmission").
  now_ = now;
  auto id = training_member(from);
  if (!id) {
    // A worker waiting for its welcome (before the start, or for the next step boundary) asks
    // whether the server is still there: it is.
    if (auto waiting = from ? worker_of(*from) : std::nullopt;
        waiting && phase_ != phase::finishing)
      send(*waiting, sent_msg{version()});
    return take();
  }
  // Up to three answers (the push's fate, the open grant, "sent"), from the worker's allowance.
  if (!within_allowance(*id, 3 * small_answer_bytes))
    return take();
  if (pushed > 0) {
    const auto key = pushed - 1;
    if (ledger_.in_hand(*id, key) || waiting_.count({*id, key}) > 0) {
      send(*id, ack_msg{key});
    } else {
      send(*id, resend_msg{key});
      ++report_.totals().retransmissions;
    }
  }
  if (auto g = policy_->open_grant(*id)) {
    send(*id, grant_msg{g->version, g->number});
    ++report_.totals().retransmissions;
  }
  send(*id, sent_msg{version()});
  return take();
}

server_effects server_core::status(std::optional<peer_id> from, std::uint64_t held,
                                   time_point now) {
  // A worker that lacks updates after `held` (a probe's answer showed them lost); an open
  // grant went with the probe's answer.
  now_ = now;
  if (auto id = training_member(from))
    catch_up(*id, held);
  return take();
}

server_effects server_core::data_requested(std::optional<peer_id> from, const data_request& r,
                                           time_point now) {
  now_ = now;
  auto id = from ? worker_of(*from) : std::nullopt;
  // A stranger, a worker not yet welcomed (it cannot know the data set), another data set, a
  // finished run: no answer.
  if (!id || !members_.is_member(*id) || phase_ == phase::finishing ||
      r.fingerprint != opts_.setup.identity.train_fingerprint)
    return take();
  // A program's own data source without training samples in memory cannot be sent: its workers
  // build it themselves (the same registered name in every process, docs/data.md).
  const dataset* held = opts_.setup.source->train_set();
  if (held == nullptr)
    return take();
  const auto& train = *held;
  const auto total =
      dataset_bytes_size(static_cast<std::uint64_t>(train.dimension()), train.size());
  const std::uint64_t chunk = std::clamp(r.chunk_bytes, data_chunk_min, data_chunk_max);
  const auto chunks = (total + chunk - 1) / chunk;
  if (r.index >= chunks)
    return take();
  auto& sent = data_sent_[*id];
  if (sent - std::min(r.received, sent) >= data_window)
    return take(); // more asked than the window: the worker breaks the protocol
  if (sent == 0)
    fetching_.insert(*id);
  last_heard_[*id] = now_;
  data_chunk c;
  c.fingerprint = r.fingerprint;
  c.index = r.index;
  c.offset = r.index * chunk;
  c.total = total;
  c.bytes.resize(std::min(chunk, total - c.offset));
  copy_dataset_bytes(train, c.offset, c.bytes);
  send(*id, data_chunk_msg{std::move(c)});
  if (++sent >= chunks)
    fetching_.erase(*id); // its next message ends its start-up
  return take();
}

server_effects server_core::left(std::optional<peer_id> from, std::uint32_t id, time_point now) {
  // Only a worker itself may announce its departure. The farewell tells it that the leave
  // arrived: its process may end now without losing it.
  now_ = now;
  if (auto sender = from ? worker_of(*from) : std::nullopt; sender && *sender == id) {
    depart(id, "left");
    send_peer(*from, farewell_msg{farewell{"left", false}});
  }
  return take();
}

server_effects server_core::worker_failed(std::optional<peer_id> from, std::uint32_t id,
                                          const std::string& why, time_point now) {
  now_ = now;
  auto sender = from ? worker_of(*from) : std::nullopt;
  if (!sender || *sender != id)
    return take();
  send_peer(*from, farewell_msg{farewell{"left", true}});
  if (phase_ == phase::finishing) {
    depart(id, "failed");
    return take();
  }
  ++report_.totals().worker_failures;
  // A worker's own errors begin with its name: said once.
  const auto own = fmt::format("worker {}: ", id);
  const std::string_view said =
      std::string_view{why}.substr(why.rfind(own, 0) == 0 ? own.size() : 0);
  const auto what = fmt::format("worker {} failed at step {}: {}", id, version(), said);
  if (!opts_.elastic) {
    // dsq local's workers are this process's own code: one that fails fails the run.
    finish(what);
    depart(id, "failed");
    return take();
  }
  // dsq server goes on with its other workers. A model that fails fails on every worker, and
  // nobody would come to finish the run: without any left, it fails (its error names why).
  report_.say(what);
  depart(id, "it failed");
  if (phase_ != phase::finishing && members_.members().empty() && members_.joining().empty())
    finish(what + "; no worker is left");
  return take();
}

server_effects server_core::connection_closed(peer_id peer, const std::string& why,
                                              time_point now) {
  // A worker's departure waits for one turn of the mailbox. When CAF's network layer ends,
  // every worker's connection ends with it, and their down messages come before the layer's
  // own: taken at once, they would make the server train on without its workers and write a
  // checkpoint without their states over the last one.
  now_ = now;
  if (worker_of(peer))
    out_.push_back(defer_loss{peer, why});
  if (told_to_go_.erase(peer) > 0)
    maybe_quit();
  return take();
}

server_effects server_core::connection_lost(peer_id peer, const std::string& why, time_point now) {
  now_ = now;
  if (auto id = worker_of(peer))
    depart(*id, why);
  return take();
}

void server_core::depart(std::uint32_t id, const std::string& why) {
  data_sent_.erase(id);
  fetching_.erase(id);
  last_heard_.erase(id);
  last_progress_.erase(id);
  starting_since_.erase(id);
  ledger_.forget(id);
  budget_.forget(id);
  allowance_.forget(id);
  collected_.erase(id);
  auto removed = members_.remove(id);
  if (shards_ && removed != membership<peer_id>::removal::none) {
    std::erase_if(waiting_, [&](const auto& w) { return w.first.first == id; });
    shards_->forget(id);
    announce(id, false);
  }
  if (removed == membership<peer_id>::removal::joiner) {
    // Nobody else will come to a local run: it cannot reach its quorum any more.
    if (phase_ == phase::waiting && !opts_.elastic)
      finish(fmt::format("worker {} is gone before training started ({})", id, why));
    return;
  }
  if (removed == membership<peer_id>::removal::none)
    return;
  policy_->leave(id);
  if (members_.members().empty() && members_.joining().empty() && !idle_since_)
    idle_since_ = now_; // --idle-timeout counts from the last departure
  if (phase_ == phase::finishing)
    return; // workers quitting at the end are not departures
  ++report_.totals().departures;
  ++report_.totals().residuals_lost;
  report_.say(
      fmt::format("worker {} left at step {} ({}); its uplink residual is lost, {} workers remain",
                  id, version(), why, members_.members().size()));
  // Async: the remaining workers take over the departed one's samples at once.
  if (policy_->changes_membership_at_once() && phase_ == phase::training)
    cross_boundary(nullptr);
  drain();
}

/// Removes a worker that broke the rules, telling it why; `may_rejoin`: it was only silent,
/// and may register again (as a new worker) if it wakes up.
void server_core::expel(std::uint32_t id, const std::string& why, bool may_rejoin) {
  send(id, farewell_msg{farewell{why, true, may_rejoin}});
  depart(id, why);
}

server_effects server_core::tick(time_point now) {
  now_ = now;
  check_liveness();
  check_idle();
  if (phase_ != phase::finishing)
    out_.push_back(arm_timer{server_timer::liveness, liveness_period(opts_.cfg)});
  return take();
}

/// A resumed run waits for the checkpoint's workers for --worker-timeout at most, then goes on
/// with those that came.
void server_core::check_resume_wait() {
  const auto timeout = std::chrono::duration<double>(opts_.cfg.worker_timeout_s);
  if (phase_ != phase::waiting || given_up_waiting_ || members_.expected().empty() ||
      now_ - waiting_since_ <= timeout)
    return;
  std::string ids;
  for (auto id : members_.expected())
    ids += fmt::format("{}{}", ids.empty() ? "" : ", ", id);
  report_.say(fmt::format("workers {} did not come back within --worker-timeout: their "
                          "states are lost, training goes on without them",
                          ids));
  returning_states_.clear(); // a late one gets its id back, but not a stale state
  given_up_waiting_ = true;
  maybe_start();
}

/// Removes workers not heard from (push, heartbeat, anything) for --worker-timeout, and workers
/// the run waits for that have not pushed for as long: heartbeats prove a process alive, not
/// that it takes part (a registration that never pushes must not hold a seat or the barrier).
void server_core::check_liveness() {
  check_resume_wait();
  const auto timeout = std::chrono::duration<double>(opts_.cfg.worker_timeout_s);
  std::vector<std::pair<std::uint32_t, std::string>> removed;
  for (const auto& [id, when] : last_heard_) {
    if (auto s = starting_since_.find(id); s != starting_since_.end()) {
      // Starting up: a loaded machine may take longer than --worker-timeout to load the data
      // and build the model, and the worker cannot answer meanwhile. Only a start-up that takes
      // longer than startup_allowance removes it.
      if (now_ - s->second > startup_allowance(opts_.cfg))
        removed.emplace_back(id, "no message after its start-up");
      continue;
    }
    if (now_ - when > timeout) {
      removed.emplace_back(id, "no message");
      continue;
    }
    auto progress = last_progress_.find(id);
    if (phase_ == phase::training && policy_->owes_push(id) && progress != last_progress_.end() &&
        now_ - progress->second > timeout)
      removed.emplace_back(id, "no push");
  }
  for (const auto& [id, what] : removed) {
    if (phase_ == phase::finishing)
      return;
    ++report_.totals().timeouts;
    expel(id, fmt::format("{} for {} s (--worker-timeout)", what, opts_.cfg.worker_timeout_s),
          true);
  }
}

/// True for a dsq server with --idle-timeout: dsq local's workers never come back, and a run
/// without any ends at once (drain).
bool server_core::watches_idleness() const {
  return opts_.elastic && opts_.cfg.idle_timeout_s > 0;
}

/// Ends a training dsq server that has had no worker for --idle-timeout: its workers gave up on
/// it (a server paused longer than their --server-timeout) and nothing would ever end it. The
/// checkpoint (--checkpoint) is written by finish(), for --resume.
void server_core::check_idle() {
  if (!watches_idleness() || phase_ != phase::training) {
    idle_since_.reset();
    return;
  }
  if (!members_.members().empty() || !members_.joining().empty()) {
    idle_since_.reset();
    return;
  }
  if (!idle_since_)
    idle_since_ = now_;
  const auto limit = std::chrono::seconds(opts_.cfg.idle_timeout_s);
  if (now_ - *idle_since_ < limit)
    return;
  finish(fmt::format("no worker for {} s at step {} (--idle-timeout)", opts_.cfg.idle_timeout_s,
                     version()));
}

/// Ends the run when the model or its loss is no longer finite: nothing after it is training.
bool server_core::check_diverged(double loss) {
  if (std::isfinite(loss) && (version() % 64 != 0 || own_x().allFinite()))
    return false;
  diverged_at_ = version();
  finish(fmt::format("the run diverged at step {} (non-finite {})", version(),
                     std::isfinite(loss) ? "model" : "loss"));
  return true;
}

/// For a push of worker `id` that could come from a model that blows up (`what` says why):
/// ends the run as diverged if the server's model has (divergence_probe.hpp), and returns true;
/// returns false if it has not, and the push is the worker's fault.
bool server_core::end_if_diverged(std::uint32_t id, const std::string& what) {
  const double loss = probe_.loss(full_model());
  if (!probe_.diverged(loss))
    return false;
  diverged_at_ = version();
  finish(fmt::format("the run diverged at step {} (worker {}: {}; the model's loss on {} "
                     "training samples is {:.3g}, {:.3g} at the start)",
                     version(), id, what, probe_.samples(), loss, probe_.initial_loss()));
  return true;
}

} // namespace dsq
