#include "training/server/server_core.hpp"

#include "compression/wire.hpp"
#include "training/double_squeeze.hpp"
#include "training/make_round_policy.hpp"
#include "training/training_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dsq {

namespace {

/// A server that awaits goodbyes waits for a worker it told to go while the worker was heard
/// from within this (its heartbeats come at least once a second), and at most goodbye_limit.
constexpr auto goodbye_grace = std::chrono::seconds(2);
constexpr auto goodbye_limit = std::chrono::minutes(5);

/// Bounds of the ring of recent updates: older gaps get the full model.
constexpr std::size_t recent_updates_max = 256;
constexpr std::size_t recent_bytes_max = std::size_t{64} << 20;

/// The number of workers a waiting run starts with (--min-workers, else --workers).
std::size_t start_quorum(const run_config& cfg) {
  return cfg.min_workers > 0 ? cfg.min_workers : cfg.workers;
}

/// The liveness timer's period: a quarter of --worker-timeout.
std::chrono::milliseconds liveness_period(const run_config& cfg) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(cfg.worker_timeout_s / 4));
}

std::uint64_t steps_of(const server_setup& s) {
  return total_steps(s.cfg, s.setup.data->train.size());
}

} // namespace

server_core::server_core(server_setup setup, time_point now)
    : opts_(std::move(setup)), method_(resolve_method(opts_.cfg)),
      engine_(opts_.cfg, *opts_.setup.net),
      members_(opts_.cfg.max_workers, opts_.setup.data->train.size()),
      total_steps_(steps_of(opts_)), report_(opts_.log, opts_.verbose, total_steps_),
      checks_(method_.uplink, opts_.setup.net->num_parameters(), opts_.cfg.max_push_norm),
      probe_(opts_.setup.net, opts_.setup.data->train, opts_.cfg.seed),
      ring_(recent_updates_max, recent_bytes_max), now_(now), waiting_since_(now) {
  const auto& cfg = opts_.cfg;
  if (opts_.resume_from) {
    auto& from = *opts_.resume_from;
    engine_.restore(from);
    // With the workers' states the run continues exactly: the same ids, shards and residuals.
    if (!from.workers.empty()) {
      members_.restore(from.members);
      returning_states_ = std::move(from.workers);
      resumed_members_ = returning_states_.size();
    }
  }
  first_version_ = version();
  policy_ = make_round_policy(cfg.mode, staleness_bound(cfg));
  if (policy_->collects_worker_states() && !cfg.checkpoint.empty() && cfg.checkpoint_every > 0)
    state_every_ = cfg.checkpoint_every;
  if (opts_.resume_from) // the automatic bound goes on
    checks_.restore_norms(opts_.resume_from->push_norms, opts_.resume_from->push_norm_peak);
  report_.log().keep(opts_.rows);
  report_.start(version());
}

server_effects server_core::start() {
  const auto& cfg = opts_.cfg;
  if (cfg.worker_timeout_s > 0)
    out_.push_back(arm_timer{server_timer::liveness, liveness_period(cfg)});
  report_.say(fmt::format("dsq: {} ({}), {}, {} workers, model {} with {} parameters, {} "
                          "steps of batch {} per worker, data: {}",
                          cfg.method, describe(method_), policy_->describe(), cfg.workers,
                          opts_.setup.net->spec(), opts_.setup.net->num_parameters(), total_steps_,
                          cfg.batch, opts_.setup.data->description));
  if (!opts_.setup.note.empty())
    report_.say("dsq: " + opts_.setup.note);
  return take();
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

server_effects server_core::registered(const registration& r, time_point now) {
  now_ = now;
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
  auto id = back ? *back : members_.admit(r.peer, r.host);
  if (back) {
    ++report_.totals().returned_workers;
    report_.say(fmt::format("worker {} ({}) is back", id, r.host));
  }
  last_heard_[id] = now_;
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
  return fmt::format("{} of the {} needed to start", members_.joining().size(),
                     start_quorum(opts_.cfg));
}

/// Starts training once --min-workers registered; after a resume, once every worker of the
/// checkpoint is back (or stopped being waited for, see check_resume_wait).
void server_core::maybe_start() {
  if (phase_ != phase::waiting)
    return;
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

// -- pushes and rounds ------------------------------------------------------------------------

server_effects server_core::pushed(std::optional<peer_id> from, const gradient_push& p,
                                   time_point now) {
  now_ = now;
  auto id = from ? worker_of(*from) : std::nullopt;
  if (!id || *id != p.worker_id) {
    ++report_.totals().ignored_pushes; // a stranger, or a worker using another's id
    return take();
  }
  last_heard_[*id] = now_;
  last_progress_[*id] = now_;
  if (phase_ != phase::training || !members_.is_member(*id)) {
    ++report_.totals().ignored_pushes;
    return take();
  }
  const auto key = policy_->push_key(p.step, p.grant);
  if (ledger_.in_hand(*id, key)) {
    // A resend of a push in hand (its first copy, or an update since, was lost): the same
    // bytes, never applied twice. Say so, and send what the worker lacks.
    ++report_.totals().retransmissions;
    send(*id, ack_msg{key});
    catch_up(*id, p.step);
    return take();
  }
  accept_push(*id, p);
  return take();
}

void server_core::accept_push(std::uint32_t id, const gradient_push& p) {
  auto r = checked_push(id, p);
  if (!r)
    return;
  const auto key = policy_->push_key(p.step, p.grant);
  if (!policy_->offer(std::move(*r), version())) {
    ++report_.totals().ignored_pushes; // late, early, or without a grant
    return catch_up(id, p.step);
  }
  ledger_.accepted(id, key);
  if (p.has_state && state_every_ > 0 && p.step % state_every_ == 0)
    collected_[id] = p.state;
  drain();
}

/// The push of worker `id` decoded and validated; nothing if it was rejected (its worker is
/// expelled, or the run ends as diverged).
std::optional<received_push> server_core::checked_push(std::uint32_t id, const gradient_push& p) {
  if (!std::isfinite(p.loss)) {
    // Computed on the shared model: the model diverged, or the worker lies.
    if (end_if_diverged(id, "reports a loss that is not finite"))
      return std::nullopt;
    ++report_.totals().rejected_pushes;
    expel(id, fmt::format("it reported a loss of {} on a model that has not diverged", p.loss));
    return std::nullopt;
  }
  received_push r;
  try {
    auto checked = checks_.check(p.payload);
    r.c = std::move(checked.message);
    r.norm = checked.norm;
  } catch (const push_rejected& e) {
    // Honest gradients of a model that blows up get too large, then overflow.
    const bool blow_up =
        e.why() == push_rejected::reason::norm || e.why() == push_rejected::reason::not_finite;
    if (blow_up && end_if_diverged(id, e.what()))
      return std::nullopt;
    ++report_.totals().rejected_pushes;
    expel(id, e.what());
    return std::nullopt;
  }
  if (p.model_digest != 0 && p.step == version()) {
    if (p.model_digest != replica_digest(engine_.x())) {
      expel(id, fmt::format("its replica differs from the server's model at step {}", version()));
      return std::nullopt;
    }
    ++report_.totals().verified_replicas;
  }
  r.worker = id;
  r.step = p.step;
  r.loss = p.loss;
  r.bytes = p.payload.size();
  return r;
}

/// Applies every round the policy releases, then hands out grants.
void server_core::drain() {
  while (phase_ == phase::training) {
    auto r = policy_->next(version(), members_.members().size());
    if (!r)
      break;
    apply_round(std::move(*r));
  }
  if (phase_ != phase::training)
    return;
  // Also after a step that the last member pushed to before it left: nobody is left to push.
  if (members_.members().empty() && members_.joining().empty() && !opts_.elastic) {
    finish(fmt::format("every worker is gone at step {}", version()));
    return;
  }
  send_grants();
}

/// Applies one round released by the policy: the checkpoint before it (sync with workers'
/// states), the DoubleSqueeze update, its broadcast and its row.
void server_core::apply_round(round r) {
  if (!checkpoint_before_round())
    return;
  step_record row;
  auto c = aggregate(r, row);
  const float lr = engine_.lr();
  const auto new_version = version() + 1;
  auto payload = to_bytes(c);
  const auto update_bytes = payload.size();
  row.bytes_down = update_bytes * members_.members().size();
  // The workers wait for the update; nobody waits for the server's copy of x_{t+1} or for the
  // log, so those come after the send, which takes the server's update (a pass over x) off
  // the critical path. Only welcoming joiners needs x_{t+1} (and its momentum) first.
  const bool welcomes = !members_.joining().empty();
  if (welcomes)
    engine_.apply(c);
  send_update(new_version, std::move(payload), update_bytes);
  if (!welcomes)
    engine_.apply(c);
  if (opts_.crash_hook && opts_.crash_hook(version())) {
    // An injected crash: gone at once, with nothing written and nobody told.
    out_.push_back(stop_server{true, true, {}});
    return;
  }
  row.step = version();
  row.wall_s = report_.elapsed();
  row.lr = lr;
  row.workers = policy_->row_workers(members_.members().size(), row.pushes);
  record_row(row);
}

/// Sync: the checkpoint of step t is written when its last push arrived, before the update: it
/// holds x_t, δ_t, every member's own state before its gradient t (attached to the pushes) and
/// the push bound's history up to step t - 1, which is everything the uninterrupted run depends
/// on from here. False if writing it failed (the run ends).
bool server_core::checkpoint_before_round() {
  const bool resumed_here = opts_.resume_from && version() == first_version_;
  if (state_every_ > 0 && version() % state_every_ == 0 && !resumed_here) {
    std::map<std::uint32_t, worker_snapshot> workers;
    for (auto& [id, state] : collected_)
      if (members_.is_member(id) && state.version == version())
        workers.emplace(id, std::move(state));
    try {
      save_checkpoint(std::move(workers));
    } catch (const std::exception& e) {
      finish(e.what());
      return false;
    }
  }
  collected_.clear();
  return true;
}

/// The round's update c, and the row's columns that its pushes give.
compressed_message server_core::aggregate(round& r, step_record& row) {
  std::vector<compressed_message> cs;
  cs.reserve(r.pushes.size());
  double loss_sum = 0;
  std::uint64_t bytes_up = 0, staleness = 0;
  for (auto& p : r.pushes) {
    // The push bound learns from the pushes applied, in the round's order (worker ids in sync),
    // so that its history is the same in every run and in a resumed one, and pushes that came
    // too late or too early do not count.
    checks_.record(p.norm);
    const auto s = version() - p.step;
    report_.applied_push(s);
    staleness = std::max(staleness, s);
    loss_sum += p.loss;
    bytes_up += p.bytes;
    cs.push_back(std::move(p.c));
  }
  row.train_loss = loss_sum / static_cast<double>(cs.size());
  row.bytes_up = bytes_up;
  row.pushes = static_cast<std::uint32_t>(cs.size());
  row.staleness = staleness;
  return engine_.aggregate(cs, r.weight);
}

/// Sends the update that makes `version` to the members (one message for every recipient and
/// the ring); in sync it is a step boundary, after which every member owes its push.
void server_core::send_update(std::uint64_t version, std::vector<std::uint8_t> payload,
                              std::size_t bytes) {
  ring_.remember(version, bytes);
  out_.push_back(new_update{version, std::move(payload), ring_.oldest()});
  if (policy_->changes_membership_at_once()) {
    for (auto& [id, m] : members_.members())
      send_peer(m.handle, update_msg{version});
    return;
  }
  cross_boundary(&version);
  for (const auto& [id, m] : members_.members())
    last_progress_[id] = now_;
}

/// Records the row of the update just applied; evaluates, checkpoints or ends as due.
void server_core::record_row(step_record row) {
  const bool last = version() == total_steps_;
  const auto every = opts_.cfg.eval_every;
  const bool evaluate_now = !last && every > 0 && version() % every == 0;
  try {
    report_.record(row, evaluate_now || last);
  } catch (const std::exception& e) {
    finish(e.what());
    return;
  }
  if (check_diverged(row.train_loss))
    return;
  if (evaluate_now)
    request_evaluation(false);
  // Async (and sync without worker states): the server's own state after the update.
  const auto ckpt_every = opts_.cfg.checkpoint_every;
  if (!last && state_every_ == 0 && ckpt_every > 0 && !opts_.cfg.checkpoint.empty() &&
      version() % ckpt_every == 0) {
    try {
      save_checkpoint();
    } catch (const std::exception& e) {
      finish(e.what());
      return;
    }
  }
  if (last)
    finish();
}

/// Sends the policy's grants: who may start a gradient now (async only).
void server_core::send_grants() {
  if (phase_ != phase::training)
    return;
  for (const auto& g : policy_->grants(version(), total_steps_ - version()))
    if (const auto* m = members_.get(g.worker)) {
      send_peer(m->handle, grant_msg{g.version, g.number});
      last_progress_[g.worker] = now_; // it owes a push from now on
    }
}

/// A membership boundary: re-shard if membership changed, send the update of `update` (if any)
/// to the members, then welcome the workers waiting to join (with the model that includes it).
/// Sync mode crosses one at each step; async mode whenever membership changes.
void server_core::cross_boundary(const std::uint64_t* update) {
  std::map<std::uint32_t, shard_assignment> shards;
  if (members_.needs_reshard()) {
    shards = members_.assign_shards();
    for (auto& [id, m] : members_.members())
      send_peer(m.handle, reshard_msg{shards[id]});
  }
  if (update != nullptr)
    for (auto& [id, m] : members_.members())
      send_peer(m.handle, update_msg{*update});
  for (auto& [id, m] : members_.enter_joiners()) {
    send_peer(m.handle, welcome_msg{make_welcome(id, shards[id])});
    if (phase_ == phase::training && version() > first_version_)
      report_.say(fmt::format("worker {} ({}) joins at step {}", id, m.host, version()));
    policy_->enter(id, version());
    last_progress_[id] = now_;
  }
}

welcome server_core::make_welcome(std::uint32_t id, const shard_assignment& shard) {
  const auto& x = engine_.x();
  welcome w;
  w.worker_id = id;
  w.config = shared_training_part(opts_.cfg); // never the server's paths, ports or keys
  w.version = version();
  w.total_steps = total_steps_;
  w.model.assign(x.data(), x.data() + x.size());
  if (const auto* m = engine_.momentum_buffer())
    w.momentum.assign(m->data(), m->data() + m->size());
  w.shard = shard;
  w.state_every = state_every_;
  if (auto it = returning_states_.find(id); it != returning_states_.end()) {
    w.has_state = true;
    w.state = std::move(it->second);
    returning_states_.erase(it);
  }
  return w;
}

/// Brings worker `id`, which holds x_`held`, up to the server's version: the updates it lacks
/// from the ring, or the full model when the ring no longer has them (a resync).
void server_core::catch_up(std::uint32_t id, std::uint64_t held) {
  const auto* m = members_.get(id);
  if (m == nullptr || !members_.is_member(id))
    return;
  auto plan = ring_.catch_up(held, version());
  if (plan.resync) {
    send_peer(m->handle, welcome_msg{make_welcome(id, m->shard), true});
    ++report_.totals().resyncs;
    return;
  }
  for (auto v : plan.versions) {
    send_peer(m->handle, update_msg{v});
    ++report_.totals().retransmissions;
  }
}

/// Asks the evaluator about x_version; the row of that step waits in the log for the answer.
void server_core::request_evaluation(bool with_train) {
  ++evals_in_flight_;
  const auto& x = engine_.x();
  out_.push_back(
      evaluation_request{version(), std::vector<float>(x.data(), x.data() + x.size()), with_train});
}

server_effects server_core::evaluated(std::uint64_t step, bool with_train, double test_loss,
                                      double test_accuracy, double train_loss) {
  --evals_in_flight_;
  std::optional<step_record> row;
  try {
    row = report_.evaluated(step, test_loss, test_accuracy);
  } catch (const std::exception& e) {
    finish(e.what());
  }
  if (with_train)
    opts_.outcome->summary.final_train_loss = train_loss;
  auto& totals = report_.totals();
  const auto target = opts_.cfg.target_accuracy;
  if (target > 0 && !totals.reached_target && test_accuracy >= target) {
    totals.reached_target = true;
    if (row)
      totals.time_to_target_s = row->wall_s;
    report_.say(fmt::format("target accuracy {:.2f}% reached at step {}", 100 * target, step));
    finish();
  }
  maybe_quit();
  return take();
}

server_effects server_core::evaluation_failed(const std::string& why) {
  --evals_in_flight_;
  if (failure_.empty())
    failure_ = "evaluation failed: " + why;
  maybe_quit();
  return take();
}

/// Writes the checkpoint of the current version; `workers`: the members' own states at this
/// step (sync), which make the checkpoint one that a run resumes from exactly.
void server_core::save_checkpoint(std::map<std::uint32_t, worker_snapshot> workers) {
  // The rows up to here reach the OS first: a resumed run continues the metrics file from the
  // checkpoint's step, and rows still buffered in a killed process would leave a gap.
  report_.log().hand_over();
  auto ckpt = engine_.snapshot();
  ckpt.spec = training_spec_text(opts_.cfg);
  ckpt.members = members_.snapshot();
  ckpt.push_norms = checks_.recent_norms();
  ckpt.push_norm_peak = checks_.peak_median();
  const bool exact = !workers.empty();
  ckpt.workers = std::move(workers);
  write_checkpoint(opts_.cfg.checkpoint, ckpt);
  report_.say(fmt::format("checkpoint of step {} written to {}{}", version(), opts_.cfg.checkpoint,
                          exact ? " (with the workers' states)" : ""));
}

// -- probes, heartbeats, departures, liveness -------------------------------------------------

server_effects server_core::heartbeat(std::optional<peer_id> from, time_point now) {
  now_ = now;
  if (auto id = from ? worker_of(*from) : std::nullopt)
    last_heard_[*id] = now_;
  return take();
}

/// The id of the member that sent a message while training runs, its message counted as a
/// sign of life; nothing for anyone else or at another time.
std::optional<std::uint32_t> server_core::training_member(std::optional<peer_id> from) {
  auto id = from ? worker_of(*from) : std::nullopt;
  if (!id || phase_ != phase::training || !members_.is_member(*id))
    return std::nullopt;
  last_heard_[*id] = now_;
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
  if (pushed > 0) {
    const auto key = pushed - 1;
    if (ledger_.in_hand(*id, key)) {
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
  last_heard_.erase(id);
  last_progress_.erase(id);
  ledger_.forget(id);
  collected_.erase(id);
  auto removed = members_.remove(id);
  if (removed == membership<peer_id>::removal::joiner) {
    // Nobody else will come to a local run: it cannot reach its quorum any more.
    if (phase_ == phase::waiting && !opts_.elastic)
      finish(fmt::format("worker {} is gone before training started ({})", id, why));
    return;
  }
  if (removed == membership<peer_id>::removal::none)
    return;
  policy_->leave(id);
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

/// Ends the run when the model or its loss is no longer finite: nothing after it is training.
bool server_core::check_diverged(double loss) {
  if (std::isfinite(loss) && (version() % 64 != 0 || engine_.x().allFinite()))
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
  const double loss = probe_.loss(engine_.x());
  if (!probe_.diverged(loss))
    return false;
  diverged_at_ = version();
  finish(fmt::format("the run diverged at step {} (worker {}: {}; the model's loss on {} "
                     "training samples is {:.3g}, {:.3g} at the start)",
                     version(), id, what, probe_.samples(), loss, probe_.initial_loss()));
  return true;
}

// -- the end ----------------------------------------------------------------------------------

server_effects server_core::stop_requested(time_point now) {
  now_ = now;
  if (phase_ == phase::finishing) { // a signal during the goodbye wait ends it
    goodbye_wait_over_ = true;
    maybe_quit();
    return take();
  }
  stopped_early_ = true;
  finish();
  return take();
}

void server_core::finish(std::string failure) {
  if (phase_ == phase::finishing)
    return;
  auto previous = phase_;
  phase_ = phase::finishing;
  failure_ = std::move(failure);
  if (!opts_.cfg.checkpoint.empty() && !diverged_at_) {
    try {
      save_checkpoint();
    } catch (const std::exception& e) {
      if (failure_.empty())
        failure_ = e.what();
    }
  }
  farewell bye{failure_.empty() ? "training finished" : failure_, false};
  for (const auto* group : {&members_.members(), &members_.joining()})
    for (auto& [id, m] : *group) {
      send_peer(m.handle, farewell_msg{bye});
      if (opts_.await_goodbyes)
        told_to_go_.insert(m.handle);
    }
  if (!told_to_go_.empty()) {
    farewells_sent_ = now_;
    out_.push_back(arm_timer{server_timer::goodbye, goodbye_grace});
  }
  // The final evaluation, including the loss on the whole training set; start_training asked
  // for it already when no step was made.
  if (previous == phase::training && version() > first_version_)
    request_evaluation(true);
  else if (previous == phase::waiting)
    report_.start(version());
  maybe_quit();
}

/// The end of the goodbye wait, or another look later. A worker told to go that still sends
/// heartbeats is still receiving what went before its farewell: over a link slower than the
/// run's last messages are long (the last updates of a 1M-parameter MLP without compression to
/// 4 workers take 14 s at 10 Mbit/s), and quitting would drop the farewell from the middleman's
/// buffers. A silent worker (stopped, cut off) is not waited for.
server_effects server_core::goodbye_tick(time_point now) {
  now_ = now;
  std::size_t receiving = 0;
  for (auto peer : told_to_go_) {
    auto id = worker_of(peer);
    auto heard = id ? last_heard_.find(*id) : last_heard_.end();
    if (heard != last_heard_.end() && now_ - heard->second < goodbye_grace)
      ++receiving;
  }
  if (receiving > 0 && now_ - farewells_sent_ < goodbye_limit) {
    if (!said_slow_goodbyes_) {
      said_slow_goodbyes_ = true;
      report_.say(fmt::format(
          "dsq server: {} {} still receiving the end of the run; waiting (at most {} s; SIGINT or "
          "SIGTERM stops waiting)",
          receiving, receiving == 1 ? "worker is" : "workers are",
          std::chrono::duration_cast<std::chrono::seconds>(goodbye_limit).count()));
    }
    out_.push_back(
        arm_timer{server_timer::goodbye,
                  std::chrono::duration_cast<std::chrono::milliseconds>(goodbye_grace) / 4});
    return take();
  }
  goodbye_wait_over_ = true;
  maybe_quit();
  return take();
}

/// Quits once the run is over, no evaluation is on its way and the goodbye wait is over:
/// writes the summary and fills in the outcome.
void server_core::maybe_quit() {
  if (phase_ != phase::finishing || evals_in_flight_ > 0)
    return;
  if (!told_to_go_.empty() && !goodbye_wait_over_)
    return;
  auto& out = *opts_.outcome;
  auto s = summary();
  out.model = engine_.x();
  out.rows = report_.log().rows();
  out.ok = failure_.empty();
  out.error = failure_;
  try {
    if (!opts_.cfg.summary.empty())
      write_summary(opts_.cfg.summary, s);
  } catch (const std::exception& e) {
    out.ok = false;
    out.error = e.what();
  }
  out.summary = s;
  report_.print_done(s, engine_.dim());
  out_.push_back(stop_server{false, !out.ok, out.error});
}

/// The run's summary: the reporter's totals and the run's own fields.
run_summary server_core::summary() {
  const auto& cfg = opts_.cfg;
  run_summary s;
  try {
    s = report_.finish(version());
  } catch (const std::exception& e) {
    if (failure_.empty())
      failure_ = e.what();
  }
  s.final_train_loss = opts_.outcome->summary.final_train_loss;
  s.method = cfg.method;
  s.uplink = method_.uplink;
  s.downlink = method_.downlink;
  s.model = opts_.setup.net->spec();
  s.dataset = opts_.setup.data->description;
  s.mode = cfg.mode;
  s.staleness_bound = policy_->staleness_bound();
  policy_->add_statistics(s);
  if (opts_.faults_injected)
    s.faults_injected = opts_.faults_injected();
  s.parameters = engine_.dim();
  s.seed = cfg.seed;
  s.workers = members_.ids_given(); // every worker that took part
  if (cfg.target_accuracy > 0)
    s.target_accuracy = cfg.target_accuracy;
  s.completed = failure_.empty() && (version() == total_steps_ || s.reached_target);
  s.diverged = diverged_at_.has_value();
  s.diverged_at_step = diverged_at_;
  s.note = !failure_.empty() ? failure_
           : stopped_early_  ? fmt::format("stopped at step {} of {}", version(), total_steps_)
                             : std::string{};
  return s;
}

server_effects server_core::network_lost(const std::string& why) {
  // No worker can be reached, so nothing more can be trained. Ends as a crash would, for
  // --resume to continue exactly: finish() would write a checkpoint of this step, which lacks
  // the workers' states, over the last one.
  auto& out = *opts_.outcome;
  out.ok = false;
  out.network_lost = true;
  out.error = why;
  try {
    report_.log().hand_over(); // the resumed run continues the metrics from here
  } catch (const std::exception& e) {
    out.error += fmt::format(" (and the metrics: {})", e.what());
  }
  out_.push_back(stop_server{false, true, out.error});
  return take();
}

} // namespace dsq
