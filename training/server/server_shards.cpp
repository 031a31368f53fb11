// server_core: the leader's role in a sharded run (--servers=K > 1, net/PROTOCOL.md "Shards"):
// the followers' joins and set-ups, pushes counted only once every follower holds its slice,
// round commits before the leader's own update, membership notices, the replica evaluations
// are made from, and the followers' reports at the end. Nothing here runs when K = 1.

#include "training/server/server_core.hpp"

#include "base/log_text.hpp"
#include "config/aggregate_rule.hpp"
#include "training/shard/range_operator.hpp"

#include <fmt/format.h>

namespace dsq {

namespace {

/// How long the end waits for the followers' reports.
constexpr auto shard_report_wait = std::chrono::seconds(10);

} // namespace

/// Splits the model over the shards: the leader's engine keeps range 0, shard_leader the replica
/// of the others (at the engine's x, the model's initialisation).
void server_core::set_up_shards() {
  const auto k = opts_.shards;
  if (k <= 1)
    return;
  if (auto why = sharding_refusal(opts_.cfg, k))
    throw std::invalid_argument(*why);
  const std::uint64_t d = opts_.setup.net->num_parameters();
  auto ranges = opts_.ranges.empty() ? run_ranges(opts_.cfg, d, k) : opts_.ranges;
  bool fits = ranges.size() == k && ranges.front().begin == 0 && ranges.back().end == d;
  for (std::size_t i = 1; fits && i < ranges.size(); ++i)
    fits = ranges[i].begin == ranges[i - 1].end && ranges[i].begin < ranges[i].end;
  if (!fits)
    throw std::invalid_argument(fmt::format(
        "the key ranges given do not split the model's {} coordinates into {} contiguous ranges", d,
        k));
  const checkpoint* from = opts_.resume_from ? &*opts_.resume_from : nullptr;
  if (from && !from->shards)
    throw std::invalid_argument("--resume: the checkpoint was written by an unsharded run: resume "
                                "it with --servers=1");
  if (from && from->shards->ranges != ranges)
    throw std::invalid_argument(fmt::format(
        "--resume: the checkpoint was written by a run of --servers={} with other key ranges than "
        "this run's: resume it with --servers={}",
        from->shards->ranges.size(), from->shards->ranges.size()));
  // The replica starts from x_0 (and zero momentum) of the whole model, or a resumed run's
  // x_v; then the engine keeps range 0 only, with range 0's downlink operator and shard 0's
  // stream (the unsharded one), restored from the checkpoint when resumed.
  if (from) {
    shards_.emplace(opts_.cfg, ranges, from->model,
                    from->momentum.size() > 0 ? &from->momentum : nullptr, from->version);
    shards_->resume_with(from->shards->digests);
  } else {
    shards_.emplace(opts_.cfg, ranges, engine_.x(), engine_.momentum_buffer(), engine_.version());
  }
  engine_ = update_engine(opts_.cfg, *opts_.setup.net, ranges[0], 0);
  if (from)
    engine_.restore(leader_part(*from, ranges[0]));
  if (!opts_.cfg.checkpoint.empty())
    cut_.emplace(ranges, from ? from->version : 0);
  report_.count_shards(k);
  if (const auto rule = parse_aggregate_rule(opts_.cfg.aggregate);
      rule.kind == aggregate_kind::krum)
    krum_.emplace(rule.trim, k); // Krum needs the distances over every range (server_krum.cpp)
  checks_ = push_check(range_operator_spec(method_.uplink, d, ranges[0]),
                       static_cast<std::size_t>(ranges[0].size()), opts_.cfg.max_push_norm);
}

Eigen::VectorXf server_core::full_model() const {
  return shards_ ? shards_->latest(engine_.x()) : engine_.x();
}

void server_core::to_followers(const shard_message& m) {
  for (std::uint32_t k = 1; k < shards_->count(); ++k)
    if (!shards_->is_lost(k))
      out_.push_back(send_to_shard{k, m});
}

/// Worker `id` takes part from this version on (`joined`), or is gone: every follower hears it
/// before anything later (the welcome, the next commit).
void server_core::announce(std::uint32_t id, bool joined) {
  if (shards_)
    to_followers(member_change{id, version(), joined});
}

/// The commit of the round about to make version + 1: its pushes in summation order.
void server_core::commit_round(const round& r, std::optional<std::size_t> chosen) {
  round_commit c;
  c.version = version() + 1;
  c.weight = r.weight;
  for (const auto& p : r.pushes) {
    c.workers.push_back(p.worker);
    c.keys.push_back(p.key);
    shards_->taken(p.worker, p.key);
  }
  if (chosen)
    c.chosen.push_back(static_cast<std::uint32_t>(*chosen));
  to_followers(c);
}

/// Offers worker `id`'s push `key` to the round policy once the leader's slice is in and every
/// follower holds its own.
void server_core::offer_if_held(std::uint32_t id, std::uint64_t key) {
  auto it = waiting_.find({id, key});
  if (it == waiting_.end() || !shards_->all_hold(id, key))
    return;
  auto w = std::move(it->second);
  waiting_.erase(it);
  if (phase_ != phase::training || !members_.is_member(id))
    return;
  offer_push(std::move(w.push), w.has_state, w.state);
}

void server_core::request_full_evaluation(bool with_train) {
  if (shards_->any_lost())
    return; // a range is missing for good: the run fails anyway
  ++evals_in_flight_;
  shards_->want(version(), with_train, engine_.x());
  emit_ready_evaluations();
}

void server_core::emit_ready_evaluations() {
  for (auto& e : shards_->ready())
    out_.push_back(std::move(e));
}

/// The end for the followers: shard_end to each, and a bounded wait for their reports.
void server_core::end_shards() {
  if (!shards_)
    return;
  to_followers(shard_end{!failure_.empty(), failure_});
  if (!shards_->all_reported())
    out_.push_back(
        arm_timer{server_timer::shard_reports,
                  std::chrono::duration_cast<std::chrono::milliseconds>(shard_report_wait)});
}

bool server_core::awaiting_shard_reports() const {
  return shards_ && !shard_reports_over_ && !shards_->all_reported();
}

// -- events from followers --------------------------------------------------------------------

server_effects server_core::shard_joined(peer_id peer, const shard_join& j, time_point now) {
  now_ = now;
  std::optional<std::string> why;
  if (!shards_)
    why = "this server runs unsharded: start the leader with --servers=K to take shards";
  else if (phase_ != phase::waiting)
    why = "the run has started: followers join before training starts";
  else
    why = shards_->refusal_of(j);
  if (why) {
    out_.push_back(refuse_shard{peer, *why});
    return take();
  }
  shards_->joined(j);
  if (opts_.elastic)
    report_.say(fmt::format("shard {} joined ({}); {} of {} followers", j.shard,
                            log_safe(j.endpoint), shards_->joined_count(), shards_->count() - 1));
  // What workers get, and what a server needs beyond it: a follower aggregates, bounds pushes
  // and gives seats as the leader does.
  auto shared = shared_training_part(opts_.cfg);
  shared.aggregate = opts_.cfg.aggregate;
  shared.max_push_norm = opts_.cfg.max_push_norm;
  shared.max_workers = opts_.cfg.max_workers;
  out_.push_back(send_to_shard{j.shard, shards_->setup_for(j.shard, shared, total_steps_)});
  maybe_start();
  return take();
}

server_effects server_core::shard_held(const slice_held& h, time_point now) {
  now_ = now;
  if (!shards_ || h.shard == 0 || h.shard >= shards_->count() || phase_ != phase::training ||
      !members_.is_member(h.worker))
    return take();
  shards_->held(h.shard, h.worker, h.key);
  offer_if_held(h.worker, h.key);
  return take();
}

server_effects server_core::shard_refused(const slice_refused& r, time_point now) {
  now_ = now;
  if (!shards_ || phase_ != phase::training || !members_.is_member(r.worker))
    return take();
  if (r.resync) {
    // No refusal: the worker lacks updates follower r.shard no longer keeps. The resync is the
    // leader's to decide, at its version, for every shard (the follower counted the request
    // against the worker's catch-up budget).
    resync(r.worker);
    return take();
  }
  ++report_.totals().rejected_pushes;
  expel(r.worker, fmt::format("shard {} refused its push: {}", r.shard, r.why));
  return take();
}

server_effects server_core::shard_updated(const model_update& u, time_point now) {
  now_ = now;
  if (!shards_)
    return take();
  try {
    shards_->updated(u.shard, u.version, u.payload);
  } catch (const std::exception& e) {
    evals_in_flight_ -= shards_->drop_waiting();
    shards_->lost(u.shard);
    finish(fmt::format("shard {} broke the protocol: {}", u.shard, e.what()));
    return take();
  }
  emit_ready_evaluations();
  return take();
}

// protocol 10: the followers' bytes of each version, for its row
server_effects server_core::shard_traffic(const slice_traffic& t, time_point now) {
  now_ = now;
  if (!shards_ || t.shard == 0 || t.shard >= shards_->count())
    return take();
  try {
    report_.shard_bytes(t.version, t.shard, t.bytes_in, t.bytes_out);
  } catch (const std::exception& e) { // the metrics file could not be written
    finish(e.what());
  }
  return take();
}

server_effects server_core::shard_reported(const shard_report& r, time_point now) {
  now_ = now;
  if (!shards_)
    return take();
  shards_->reported(r);
  if (shards_->all_reported())
    // Every follower sent its last update before its report: nothing more will come.
    evals_in_flight_ -= shards_->drop_waiting();
  maybe_quit();
  return take();
}

server_effects server_core::shard_lost(std::uint32_t shard, const std::string& why,
                                       time_point now) {
  now_ = now;
  if (!shards_ || shard == 0 || shard >= shards_->count() || shards_->is_lost(shard))
    return take();
  shards_->lost(shard);
  evals_in_flight_ -= shards_->drop_waiting();
  if (phase_ == phase::finishing) {
    if (shards_->reports().count(shard) == 0 && failure_.empty())
      report_.say(fmt::format("shard {} ended without its report ({})", shard, why));
    maybe_quit();
    return take();
  }
  finish(
      fmt::format("shard {} is lost ({}): the run cannot go on without its key range", shard, why));
  return take();
}

server_effects server_core::shard_saved(const slice_saved& s, time_point now) {
  now_ = now;
  if (!cut_ || s.shard == 0 || s.shard >= shards_->count())
    return take();
  try {
    const auto& replica = shards_->replica(s.shard);
    // The follower sent its update of s.version before this answer, on the same channel.
    if (s.failure.empty() && replica.version() != s.version)
      throw std::runtime_error(fmt::format("shard {} saved step {} but its updates reached step {}",
                                           s.shard, s.version, replica.version()));
    if (auto whole = cut_->saved(s, replica.x(), replica.momentum_buffer()))
      write_sharded_checkpoint(*whole);
  } catch (const std::exception& e) {
    if (phase_ == phase::finishing) {
      if (failure_.empty())
        failure_ = e.what();
      maybe_quit();
    } else {
      finish(e.what());
    }
  }
  return take();
}

/// The leader's checkpoint of a cut every follower confirmed: from now on it names that set.
void server_core::write_sharded_checkpoint(const checkpoint& whole) {
  write_checkpoint(opts_.cfg.checkpoint, whole);
  cut_->written(whole.version);
  report_.say(fmt::format("checkpoint of step {} written to {} (with {}the slice files of shards "
                          "1..{})",
                          whole.version, opts_.cfg.checkpoint,
                          whole.workers.empty() ? "" : "the workers' states and ",
                          shards_->count() - 1));
}

server_effects server_core::shard_reports_tick(time_point now) {
  now_ = now;
  if (!awaiting_shard_reports())
    return take();
  shard_reports_over_ = true;
  std::string missing;
  for (std::uint32_t k = 1; k < shards_->count(); ++k)
    if (shards_->reports().count(k) == 0 && !shards_->is_lost(k))
      missing += fmt::format("{}{}", missing.empty() ? "" : ", ", k);
  report_.say(fmt::format(
      "shards {} did not report within {} s: their bytes are missing from "
      "the summary",
      missing, std::chrono::duration_cast<std::chrono::seconds>(shard_report_wait).count()));
  evals_in_flight_ -= shards_->drop_waiting();
  maybe_quit();
  return take();
}

} // namespace dsq
