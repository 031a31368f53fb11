// server_core: pushes and the rounds they make, in the order a round is applied (see
// apply_round), and what workers that miss something get again.

#include "training/server/server_core.hpp"

#include "training/double_squeeze.hpp"
#include "training/training_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dsq {

// -- pushes and rounds ------------------------------------------------------------------------

server_effects server_core::pushed(std::optional<peer_id> from, const gradient_push& p,
                                   time_point now) {
  now_ = now;
  auto id = from ? worker_of(*from) : std::nullopt;
  if (!id || *id != p.worker_id) {
    ++report_.totals().ignored_pushes; // a stranger, or a worker using another's id
    return take();
  }
  heard_from(*id);
  last_progress_[*id] = now_;
  if (phase_ != phase::training || !members_.is_member(*id) || (shards_ && p.shard != 0)) {
    ++report_.totals().ignored_pushes; // sharded: only range 0's slice comes to the leader
    return take();
  }
  const auto key = policy_->push_key(p.step, p.grant);
  if (ledger_.in_hand(*id, key)) {
    // A resend of a push in hand (its first copy, or an update since, was lost): the same
    // bytes, never applied twice. Say so, and send what the worker lacks.
    if (!within_allowance(*id, small_answer_bytes))
      return take();
    ++report_.totals().retransmissions;
    send(*id, ack_msg{key});
    catch_up(*id, p.step);
    return take();
  }
  if (!policy_->issued(*id, p.step, p.grant, version())) {
    // A step ahead of the model, or a grant number never given to this worker: refused and
    // counted, not expelled (an honest worker's push from before a server restart can carry
    // either). Taken, a forged number would mark the worker's real pushes as resends.
    ++report_.totals().ignored_pushes;
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
  r->key = policy_->push_key(p.step, p.grant);
  if (shards_) {
    // Counted only once every follower holds its slice (shard_held): then no commit can name
    // a slice a follower lacks. A few per worker at most: an honest worker has one or two.
    const auto key = r->key;
    waiting_[{id, key}] = waiting_push{std::move(*r), p.has_state, p.state};
    std::size_t mine = 0;
    for (auto it = waiting_.lower_bound({id, 0}); it != waiting_.end() && it->first.first == id;
         ++it)
      ++mine;
    if (mine > held_pushes_max)
      waiting_.erase(waiting_.lower_bound({id, 0}));
    return offer_if_held(id, key);
  }
  offer_push(std::move(*r), p.has_state, p.state);
}

/// Offers a checked push to the round policy; taken, it is in hand (acknowledged to probes,
/// never applied twice) and the rounds it completes are applied.
void server_core::offer_push(received_push r, bool has_state, const worker_snapshot& state) {
  const auto id = r.worker;
  const auto key = r.key;
  const auto step = r.step;
  if (!policy_->offer(std::move(r), version())) {
    ++report_.totals().ignored_pushes; // late, early, or without a grant
    return catch_up(id, step);
  }
  ledger_.accepted(id, key);
  budget_.pushed(id);
  if (has_state && state_every_ > 0 && step % state_every_ == 0)
    collected_[id] = state;
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
  // Sharded: the engine holds range 0, and the digest is of the worker's range 0; each follower
  // checks its own range (shard_core::pushed).
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
    if (krum_round_)
      return; // Krum with K > 1: the round waiting for its distances comes first
    auto r = policy_->next(version(), members_.members().size());
    if (!r)
      break;
    if (ask_distances(*r))
      return; // applied when the followers' distances are in (shard_distances)
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
void server_core::apply_round(round r, std::optional<std::size_t> chosen) {
  if (!checkpoint_before_round())
    return;
  step_record row;
  if (shards_)
    commit_round(r, chosen); // every follower makes this version from the same pushes, first
  const compressed_message& c = aggregate(r, row, chosen); // the engine's, until the next round
  const float lr = engine_.lr();
  const auto new_version = version() + 1;
  auto payload = engine_.payload_of(c); // into a dropped update's buffer when one came back
  const auto update_bytes = payload.size();
  row.bytes_down = update_bytes * members_.members().size();
  // Only welcoming joiners needs the server's copy of x_{t+1} (and its momentum) before the
  // update is queued. Effects go out when this call returns, so whatever apply() does precedes
  // the send; for a sign update without momentum it only keeps c, and x takes eight such
  // updates in one pass when it is read (update_engine).
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
const compressed_message& server_core::aggregate(round& r, step_record& row,
                                                 std::optional<std::size_t> chosen) {
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
    trained_.insert(p.worker);
    staleness = std::max(staleness, s);
    loss_sum += p.loss;
    bytes_up += p.bytes;
    cs.push_back(std::move(p.c));
  }
  row.train_loss = loss_sum / static_cast<double>(cs.size());
  row.bytes_up = bytes_up;
  row.pushes = static_cast<std::uint32_t>(cs.size());
  row.staleness = staleness;
  if (chosen) // Krum with K > 1: the chosen push, whole (the rule over one push is that push)
    return engine_.aggregate(std::span<const compressed_message>{&cs.at(*chosen), 1}, r.weight);
  return engine_.aggregate(cs, r.weight);
}

void server_core::recycle_update(std::vector<std::uint8_t> bytes) noexcept {
  engine_.recycle_payload(std::move(bytes));
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
  if (!last && stop_if_observer_asked())
    return;
  if (evaluate_now)
    request_evaluation(false);
  else if (!last)
    report_.progress(version(), now_); // between evaluation lines: every few seconds
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
    announce(id, true); // sharded: the followers keep this version's slice for it
    send_peer(m.handle, welcome_msg{make_welcome(id, shards[id])});
    if (phase_ == phase::training && version() > first_version_)
      report_.say(fmt::format("worker {} ({}) joins at step {}", id, m.host, version()));
    policy_->enter(id, version());
    last_progress_[id] = now_;
  }
}

welcome server_core::make_welcome(std::uint32_t id, const shard_assignment& shard) {
  const auto& x = own_x();
  welcome w;
  w.worker_id = id;
  w.config = shared_training_part(opts_.cfg); // never the server's paths, ports or keys
  w.version = version();
  w.total_steps = total_steps_;
  w.model.assign(x.data(), x.data() + x.size());
  if (const auto* m = engine_.momentum_buffer())
    w.momentum.assign(m->data(), m->data() + m->size());
  if (shards_)
    w.shards = shards_->map(); // from_shard stays 0: this is the leader's welcome
  w.shard = shard;
  w.state_every = state_every_;
  w.data = opts_.setup.identity;
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
  if (plan.resync || !plan.versions.empty()) {
    if (!budget_.ask(id)) {
      ++report_.totals().floods_expelled;
      expel(id, fmt::format("it asked for updates again {} times without a new push: a flood",
                            budget_.limit()));
      return;
    }
  }
  if (plan.resync)
    return resync(id);
  if (!within_allowance(id, plan.bytes + plan.versions.size() * small_answer_bytes))
    return;
  for (auto v : plan.versions) {
    send_peer(m->handle, update_msg{v});
    ++report_.totals().retransmissions;
  }
}

/// Sends member `id` the model at this version (a resync welcome); sharded, the followers are
/// ordered to send their slices at this version too (member_change with resync), so that the
/// worker's K parts are of one version.
void server_core::resync(std::uint32_t id) {
  const auto* m = members_.get(id);
  if (m == nullptr || !members_.is_member(id))
    return;
  if (!budget_.may_resync(id, version()))
    return; // one is on its way: it brings the worker to this version
  // The welcome's model and momentum, and its small fields.
  const std::uint64_t resync_bytes = 8 * own_x().size() + small_answer_bytes;
  if (!within_allowance(id, resync_bytes))
    return;
  if (shards_)
    to_followers(member_change{id, version(), true, true});
  send_peer(m->handle, welcome_msg{make_welcome(id, m->shard), true});
  ++report_.totals().resyncs;
}

/// Takes `bytes` from the allowance of worker `id` for what it asked to be sent again; a worker
/// that asks for more than its allowance floods: it is expelled, and false returned.
bool server_core::within_allowance(std::uint32_t id, std::uint64_t bytes) {
  if (allowance_.take(id, bytes, now_))
    return true;
  ++report_.totals().floods_expelled;
  expel(id, fmt::format("it asked to be sent more again than its allowance ({} bytes at once, "
                        "{:.0f} bytes a second): a flood",
                        allowance_.burst(), allowance_.rate()));
  return false;
}

/// Asks the evaluator about x_version; the row of that step waits in the log for the answer.
void server_core::request_evaluation(bool with_train) {
  if (shards_)
    return request_full_evaluation(with_train); // once every range reached this version
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
  stop_if_observer_asked();
  // In every run: members of dsq server may push poison that passes every check, and in dsq
  // local a method can wreck the model by itself (error feedback with qsgd:s=4 took a small
  // MLP's test loss from 1.7 to 2.9e3 by step 40, 1.6e6 by step 60); neither is a success.
  // Data without a test set is not evaluated (NaN): no sign of divergence.
  if (!diverged_at_ && opts_.setup.source->test_set() != nullptr &&
      probe_.evaluation_diverged(test_loss)) {
    diverge_on_evaluation(step, test_loss);
    maybe_quit();
    return take();
  }
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

/// Ends the run as diverged at `step`, whose evaluated test loss `test_loss` is far above the
/// start's (divergence_probe::evaluation_diverged); at the end, the run that finished is one.
void server_core::diverge_on_evaluation(std::uint64_t step, double test_loss) {
  diverged_at_ = step;
  auto why =
      fmt::format("the run diverged at step {} (its test loss {:.3g} is over {:g} x the "
                  "initial model's loss {:.3g} on {} training samples)",
                  step, test_loss, evaluated_loss_factor, probe_.initial_loss(), probe_.samples());
  if (phase_ == phase::finishing) {
    if (failure_.empty())
      failure_ = std::move(why);
    return;
  }
  finish(std::move(why));
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
  if (cut_) {
    // Sharded: one cut across the shards. Every follower is at this version when the order
    // arrives (it follows this version's commit on the ordered channel); this checkpoint is
    // written once all confirmed (shard_saved).
    to_followers(cut_->open(std::move(ckpt)));
    return;
  }
  write_checkpoint(opts_.cfg.checkpoint, ckpt);
  report_.say(fmt::format("checkpoint of step {} written to {}{}", version(), opts_.cfg.checkpoint,
                          exact ? " (with the workers' states)" : ""));
}

} // namespace dsq
