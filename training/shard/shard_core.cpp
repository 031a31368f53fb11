#include "training/shard/shard_core.hpp"

#include "base/log_text.hpp"
#include "compression/compressor.hpp"
#include "config/method.hpp"
#include "training/double_squeeze.hpp"
#include "training/make_round_policy.hpp"
#include "training/robust_aggregate.hpp"
#include "training/shard/range_operator.hpp"
#include "training/shard/slice_checkpoint.hpp"
#include "training/training_spec.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dsq {

namespace {

/// The ring of recent updates, as the leader's (server_core.cpp).
constexpr std::size_t recent_updates_max = 256;
constexpr std::size_t recent_bytes_max = std::size_t{64} << 20;

/// Registrations kept for workers the leader has not announced yet: at most one per seat.
std::size_t early_max(const run_config& cfg) {
  return std::max<std::size_t>(cfg.max_workers > 0 ? cfg.max_workers : 256, 16);
}

std::vector<float> copy_of(const Eigen::VectorXf& v) {
  return {v.data(), v.data() + v.size()};
}

} // namespace

shard_core::shard_core(std::uint32_t shard, std::uint32_t shards, std::string endpoint,
                       shard_storage storage)
    : shard_(shard), shards_(shards), endpoint_(std::move(endpoint)), storage_(std::move(storage)),
      ring_(recent_updates_max, recent_bytes_max) {
  report_.shard = shard;
}

shard_effects shard_core::take() {
  shard_effects effects;
  effects.swap(out_);
  return effects;
}

shard_effects shard_core::start() {
  shard_join j;
  j.shard = shard_;
  j.shards = shards_;
  j.endpoint = endpoint_;
  to_lead(j);
  return take();
}

std::vector<float> shard_core::slice() const {
  return engine_ ? copy_of(engine_->x()) : std::vector<float>{};
}

std::optional<std::uint32_t> shard_core::worker_of(peer_id peer) const {
  for (const auto& [id, p] : members_)
    if (p == peer)
      return id;
  return std::nullopt;
}

std::size_t shard_core::held(std::uint32_t id) const {
  auto it = held_.find(id);
  return it == held_.end() ? 0 : it->second.size();
}

void shard_core::fail(std::string why) {
  if (stopped_)
    return;
  stopped_ = true;
  out_.push_back(stop_shard{true, fmt::format("shard {}: {}", shard_, why)});
}

void shard_core::send(std::uint32_t id, worker_message what) {
  if (auto it = members_.find(id); it != members_.end())
    out_.push_back(send_to{it->second, std::move(what)});
}

// -- the leader -------------------------------------------------------------------------------

shard_effects shard_core::set_up(const shard_setup& s, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  if (engine_) {
    fail("a second set-up from the leader");
    return take();
  }
  if (s.ranges.size() != shards_ || shard_ >= shards_) {
    fail(fmt::format("the leader's run has {} shards, this is shard {} of {}: start it with the "
                     "leader's --servers",
                     s.ranges.size(), shard_, shards_));
    return take();
  }
  try {
    cfg_ = s.config;
    if (!s.aggregate.empty())
      cfg_.aggregate = s.aggregate; // not in the config's inspection: the server's own option
    ranges_ = s.ranges;
    total_steps_ = s.total_steps;
    const auto range = ranges_[shard_];
    const auto dim = ranges_.back().end;
    engine_ =
        std::make_unique<update_engine>(cfg_, dim, range, shard_, s.slice, s.momentum, s.version);
    keys_ = make_round_policy(cfg_.mode, staleness_bound(cfg_));
    // The worker compresses this range with the run's operator on the range (a count
    // sparsifier keeps its share: range_operator.hpp); its pushes are checked against that.
    checks_.emplace(range_operator_spec(resolve_method(cfg_).uplink, dim, range),
                    static_cast<std::size_t>(range.size()), cfg_.max_push_norm);
    allowance_.emplace(run_resend_allowance(range.size()));
  } catch (const std::exception& e) {
    engine_.reset();
    fail(fmt::format("the leader's set-up does not fit: {}", e.what()));
    return take();
  }
  if (s.resume || !storage_.resume.empty())
    resume_from_file(s);
  return take();
}

/// A resumed leader's set-up: the slice state continues from this shard's slice file of the
/// leader's step (δ_k, the downlink stream and the push bound's history are nowhere else).
void shard_core::resume_from_file(const shard_setup& s) {
  if (!s.resume) {
    fail(fmt::format("started with --resume={} but the leader starts a new run: give the leader "
                     "the same --resume, or start shard {} without it",
                     storage_.resume, shard_));
    return;
  }
  if (storage_.resume.empty()) {
    fail(fmt::format("the leader resumes from its checkpoint of step {}: start shard {} with "
                     "--resume=DIR, the directory its --checkpoint wrote",
                     s.version, shard_));
    return;
  }
  try {
    auto state = read_slice_checkpoint(
        storage_.resume, {shard_, shards_, ranges_[shard_], s.version, s.resume_digest});
    engine_->restore(state);
    checks_->restore_norms(state.push_norms, state.push_norm_peak);
  } catch (const std::exception& e) {
    fail(e.what());
  }
}

shard_effects shard_core::member_changed(const member_change& m, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  if (!m.joined) {
    forget(m.worker);
    return take();
  }
  if (m.resync) {
    // A member only: a worker still entering gets its welcome at its join version, and the
    // catch-up after it as any member.
    if (members_.count(m.worker) > 0 && engine_) {
      resync_orders_[m.worker] = m.version;
      send_ordered_resyncs();
    }
    return take();
  }
  std::optional<peer_id> early;
  if (auto e = early_.find(m.worker); e != early_.end())
    early = e->second.peer;
  forget(m.worker); // a new membership under a known id starts afresh
  announced_[m.worker].version = m.version;
  announced_[m.worker].peer = early;
  snapshot_entries();
  welcome_ready(m.worker);
  return take();
}

/// Takes x_v for every announced worker that enters at the version this shard has reached. The
/// notice of a join at v comes after the commit of v on the leader's channel, so a shard is
/// never past v when it arrives.
void shard_core::snapshot_entries() {
  if (!engine_)
    return;
  for (auto& [id, a] : announced_) {
    if (a.slice || a.version > version())
      continue;
    // a.version < version() breaks the leader's order; the current slice is the best there is,
    // and the worker's catch-up starts from it.
    a.version = version();
    a.slice = copy_of(engine_->x());
    a.moment =
        engine_->momentum_buffer() ? copy_of(*engine_->momentum_buffer()) : std::vector<float>{};
  }
}

/// Sends each ordered resync whose version this shard has reached: its slice and momentum at
/// x_v, as a resync welcome. The order of a resync at v comes before the commit of v + 1 on the
/// leader's channel, so this shard is never past v when it arrives; its x_v is taken as it
/// reaches v (or at once).
void shard_core::send_ordered_resyncs() {
  for (auto it = resync_orders_.begin(); it != resync_orders_.end();) {
    if (it->second > version()) {
      ++it;
      continue;
    }
    // it->second < version() breaks the leader's order: the current slice is the best there is
    // (the worker's parts then disagree, and its next status asks again).
    const auto* m = engine_->momentum_buffer();
    send(it->first, welcome_msg{make_welcome(it->first, copy_of(engine_->x()),
                                             m ? copy_of(*m) : std::vector<float>{}, version()),
                                true});
    it = resync_orders_.erase(it);
  }
}

/// Welcomes worker `id` once it is announced, registered and its slice taken.
void shard_core::welcome_ready(std::uint32_t id) {
  auto it = announced_.find(id);
  if (it == announced_.end() || !it->second.slice || !it->second.peer)
    return;
  auto a = std::move(it->second);
  announced_.erase(it);
  members_[id] = *a.peer;
  out_.push_back(watch{*a.peer});
  send(id, welcome_msg{make_welcome(id, std::move(*a.slice), std::move(*a.moment), a.version)});
  catch_up(id, a.version);
}

welcome shard_core::make_welcome(std::uint32_t id, std::vector<float> slice,
                                 std::vector<float> moment, std::uint64_t version) const {
  welcome w;
  w.worker_id = id;
  w.config = cfg_;
  w.version = version;
  w.total_steps = total_steps_;
  w.model = std::move(slice);
  w.momentum = std::move(moment);
  w.from_shard = shard_;
  return w;
}

void shard_core::forget(std::uint32_t id) {
  members_.erase(id);
  announced_.erase(id);
  resync_orders_.erase(id);
  early_.erase(id);
  held_.erase(id);
  ledger_.forget(id);
  budget_.forget(id);
  if (allowance_)
    allowance_->forget(id);
}

shard_effects shard_core::committed(const round_commit& c, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  if (!engine_) {
    fail("a round commit before the set-up");
    return take();
  }
  if (c.version <= version()) {
    fail(fmt::format("a commit of version {} at version {}", c.version, version()));
    return take();
  }
  commits_[c.version] = c;
  apply_ready_commits();
  return take();
}

void shard_core::apply_ready_commits() {
  while (!stopped_) {
    auto it = commits_.find(version() + 1);
    if (it == commits_.end())
      return;
    auto c = std::move(it->second);
    commits_.erase(it);
    apply_commit(c);
  }
}

/// Makes version c.version as the leader did: the named pushes, summed in the commit's order
/// with its weight; the update goes to the members and to the leader.
void shard_core::apply_commit(const round_commit& c) {
  if (c.workers.size() != c.keys.size() || c.workers.empty()) {
    fail(fmt::format("the commit of version {} names {} workers and {} keys", c.version,
                     c.workers.size(), c.keys.size()));
    return;
  }
  for (auto i : c.chosen)
    if (i >= c.workers.size()) {
      fail(fmt::format("the commit of version {} chooses push {} of {}", c.version, i,
                       c.workers.size()));
      return;
    }
  std::vector<compressed_message> cs;
  cs.reserve(c.workers.size());
  std::uint64_t bytes_in = 0;
  for (std::size_t i = 0; i < c.workers.size(); ++i) {
    auto* p = find_push(c.version, c.workers[i], c.keys[i]);
    if (p == nullptr) {
      fail(fmt::format("the commit of version {} names push {} of worker {}, which this shard "
                       "does not hold",
                       c.version, c.keys[i], c.workers[i]));
      return;
    }
    checks_->record(p->norm); // in the leader's order, as it records its own slices
    bytes_in += p->bytes;
    cs.push_back(std::move(p->c));
  }
  // The named pushes, and every older one of their workers (pushes the leader never took).
  for (std::size_t i = 0; i < c.workers.size(); ++i) {
    auto& mine = held_[c.workers[i]];
    mine.erase(mine.begin(), mine.upper_bound(c.keys[i]));
  }
  queried_.erase(queried_.begin(), queried_.upper_bound(c.version));
  if (!c.chosen.empty()) {
    // Krum with K > 1: the pushes the leader chose, whole (the rule over one push is that push).
    std::vector<compressed_message> taken;
    for (auto i : c.chosen)
      taken.push_back(std::move(cs[i]));
    cs = std::move(taken);
  }
  auto update = engine_->aggregate(cs, c.weight);
  engine_->apply(update);
  auto payload = engine_->payload_of(update); // into a dropped update's buffer if one came back
  const auto bytes = payload.size();
  ring_.remember(version(), bytes);
  out_.push_back(new_update{version(), std::move(payload), ring_.oldest()});
  for (const auto& [id, peer] : members_)
    out_.push_back(send_to{peer, update_msg{version()}});
  to_lead(slice_update_msg{version()});
  report_.updates += 1;
  const std::uint64_t bytes_out = bytes * members_.size(); // as the leader counts its bytes_down
  report_.bytes_in += bytes_in;
  report_.bytes_out += bytes_out;
  to_lead(slice_traffic{shard_, version(), bytes_in, bytes_out}); // protocol 10: the row's bytes
  snapshot_entries();
  std::vector<std::uint32_t> ready;
  for (const auto& [id, a] : announced_)
    if (a.slice && a.peer)
      ready.push_back(id);
  for (auto id : ready)
    welcome_ready(id);
  send_ordered_resyncs();
}

shard_effects shard_core::save_ordered(const slice_save& o, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  if (!engine_ || o.version != version()) {
    fail(fmt::format("an order to save step {} at step {}", o.version, version()));
    return take();
  }
  slice_saved done{shard_, o.version, 0, {}};
  if (storage_.checkpoint.empty()) {
    done.failure = fmt::format("shard {} has no --checkpoint directory: start it with "
                               "--checkpoint=DIR as the leader",
                               shard_);
  } else {
    auto state = engine_->snapshot();
    state.spec = training_spec_text(cfg_);
    state.push_norms = checks_->recent_norms();
    state.push_norm_peak = checks_->peak_median();
    state.slice = slice_identity{shard_, shards_, ranges_[shard_]};
    try {
      done.digest = write_slice_checkpoint(storage_.checkpoint, state, o.keep);
    } catch (const std::exception& e) {
      done.failure = e.what();
    }
  }
  to_lead(done);
  if (!done.failure.empty())
    fail(done.failure);
  return take();
}

/// The push (worker, key): kept for the commit of `version` by a distance query, or held.
received_push* shard_core::find_push(std::uint64_t version, std::uint32_t worker,
                                     std::uint64_t key) {
  if (auto q = queried_.find(version); q != queried_.end())
    if (auto p = q->second.find({worker, key}); p != q->second.end())
      return &p->second;
  auto w = held_.find(worker);
  if (w == held_.end())
    return nullptr;
  auto p = w->second.find(key);
  return p == w->second.end() ? nullptr : &p->second;
}

shard_effects shard_core::distances_asked(const distance_query& q, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  distance_reply r;
  r.shard = shard_;
  r.version = q.version;
  auto refuse = [&](std::string why) {
    r.refused = fmt::format("shard {} refused the distance query of version {}: {}", shard_,
                            q.version, why);
    to_lead(std::move(r));
    return take();
  };
  if (!engine_)
    return refuse("it came before the set-up");
  if (q.workers.size() != q.keys.size() || q.workers.empty())
    return refuse(fmt::format("it names {} workers and {} keys", q.workers.size(), q.keys.size()));
  if (q.version <= version())
    return refuse(fmt::format("this shard made version {} already", version()));
  // Every named push must be here: the leader counts a push only once every follower said it
  // holds its slice (slice_held), so a missing one means the protocol broke.
  const auto n = q.workers.size(), d = engine_->dim();
  std::vector<float> rows(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    const auto* p = find_push(q.version, q.workers[i], q.keys[i]);
    if (p == nullptr)
      return refuse(fmt::format("it names push {} of worker {}, which this shard does not hold",
                                q.keys[i], q.workers[i]));
    decompress(p->c, std::span<float>{rows.data() + i * d, d});
  }
  r.distances = pairwise_squared_distances(rows, n);
  // Kept for the commit of q.version: a departure announced before it forgets its worker's
  // held pushes, and the commit still names this one.
  auto& keep = queried_[q.version];
  for (std::size_t i = 0; i < n; ++i) {
    auto w = held_.find(q.workers[i]);
    if (w == held_.end())
      continue; // already kept (named twice)
    if (auto p = w->second.find(q.keys[i]); p != w->second.end()) {
      keep.emplace(std::pair{q.workers[i], q.keys[i]}, std::move(p->second));
      w->second.erase(p);
    }
  }
  to_lead(std::move(r));
  return take();
}

shard_effects shard_core::ended(const shard_end& e, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  // Each member hears that the run ended before this shard's connection closes: the leader's
  // farewell to it travels on another connection and may come later (a run stopped early).
  if (!e.failed)
    for (const auto& [id, peer] : members_)
      out_.push_back(send_to{peer, farewell_msg{farewell{"the run ended", false}, false}});
  to_lead(report_);
  stopped_ = true;
  // The run's outcome is the leader's to report; this shard did its part.
  out_.push_back(stop_shard{false, {}});
  return take();
}

shard_effects shard_core::leader_lost(const std::string& why) {
  fail(fmt::format("the leader is gone ({})", why));
  return take();
}

// -- workers ----------------------------------------------------------------------------------

shard_effects shard_core::registered(const registration& given, time_point now) {
  now_ = now;
  if (stopped_)
    return take();
  auto refuse = [&](std::string why) {
    out_.push_back(send_to{given.peer, farewell_msg{farewell{std::move(why), true}, true}});
  };
  if (given.protocol != protocol_version) {
    refuse(fmt::format("protocol version {} but shard {} speaks {}", given.protocol, shard_,
                       protocol_version));
    return take();
  }
  if (!given.returning) {
    refuse(fmt::format("shard {} takes only workers the leader (shard 0) admitted: register "
                       "with the leader first",
                       shard_));
    return take();
  }
  const auto id = given.previous_id;
  if (members_.count(id) > 0 || worker_of(given.peer))
    return take(); // registered already
  if (auto a = announced_.find(id); a != announced_.end()) {
    if (!a->second.peer)
      a->second.peer = given.peer;
    welcome_ready(id);
    return take();
  }
  if (early_.size() >= early_max(cfg_) && early_.count(id) == 0) {
    refuse(fmt::format("shard {}: too many registrations the leader has not announced", shard_));
    return take();
  }
  auto r = given;
  r.host = log_safe(r.host);
  early_[id] = r;
  return take();
}

std::optional<std::uint32_t> shard_core::member_of(std::optional<peer_id> from) const {
  return from ? worker_of(*from) : std::nullopt;
}

shard_effects shard_core::pushed(std::optional<peer_id> from, const gradient_push& p,
                                 time_point now) {
  now_ = now;
  auto id = member_of(from);
  if (stopped_ || !engine_ || !id || *id != p.worker_id)
    return take(); // a stranger, another's id, or no run: nothing to say
  const auto key = keys_->push_key(p.step, p.grant);
  if (ledger_.in_hand(*id, key)) {
    // A resend of a slice in hand (the ack was lost): acknowledged again, never held twice.
    if (within_allowance(*id, small_answer_bytes))
      send(*id, ack_msg{key});
    return take();
  }
  auto refuse = [&](std::string why) { to_lead(slice_refused{shard_, *id, key, std::move(why)}); };
  if (p.shard != shard_) {
    refuse(fmt::format("a push for shard {} sent to shard {}", p.shard, shard_));
    return take();
  }
  if (held(*id) >= held_pushes_max) {
    refuse(fmt::format("more than {} pushes that no round took", held_pushes_max));
    return take();
  }
  received_push r;
  try {
    auto checked = checks_->check(p.payload);
    r.c = std::move(checked.message);
    r.norm = checked.norm;
  } catch (const push_rejected& e) {
    refuse(e.what());
    return take();
  }
  // --verify-replicas: the worker's digest of this range of x_step (worker_shards), checked as
  // the leader checks range 0; a mismatch is refused, and the leader removes the worker.
  if (p.model_digest != 0 && p.step == version() &&
      p.model_digest != replica_digest(engine_->x())) {
    refuse(fmt::format("its replica differs from shard {}'s range at step {}", shard_, version()));
    return take();
  }
  r.worker = *id;
  r.step = p.step;
  r.loss = p.loss;
  r.bytes = p.payload.size();
  r.key = key;
  held_[*id][key] = std::move(r);
  ledger_.accepted(*id, key);
  budget_.pushed(*id);
  send(*id, ack_msg{key});
  to_lead(slice_held{shard_, *id, key});
  return take();
}

shard_effects shard_core::probed(std::optional<peer_id> from, std::uint64_t pushed,
                                 time_point now) {
  now_ = now;
  auto id = member_of(from);
  if (stopped_ || !id || !within_allowance(*id, 2 * small_answer_bytes))
    return take();
  if (pushed > 0) {
    const auto key = pushed - 1;
    send(*id, ledger_.in_hand(*id, key) ? worker_message{ack_msg{key}}
                                        : worker_message{resend_msg{key}});
  }
  send(*id, sent_msg{version()});
  return take();
}

shard_effects shard_core::status(std::optional<peer_id> from, std::uint64_t held, time_point now) {
  now_ = now;
  if (auto id = member_of(from); id && !stopped_)
    catch_up(*id, held);
  return take();
}

void shard_core::recycle_update(std::vector<std::uint8_t> bytes) noexcept {
  if (engine_)
    engine_->recycle_payload(std::move(bytes));
}

shard_effects shard_core::connection_closed(peer_id peer, time_point now) {
  now_ = now;
  // Only noted: the worker may still be a member for the leader, which decides (its
  // member_change(joined = false) forgets it here). Nothing more is sent to a closed peer.
  if (auto id = worker_of(peer))
    members_.erase(*id);
  return take();
}

/// The updates of this slice after `held` from the ring, or the slice itself (a resync).
void shard_core::catch_up(std::uint32_t id, std::uint64_t held) {
  if (members_.count(id) == 0 || !engine_)
    return;
  auto plan = ring_.catch_up(held, version());
  if (plan.resync || !plan.versions.empty()) {
    if (!budget_.ask(id)) {
      to_lead(slice_refused{shard_, id, 0,
                            fmt::format("it asked shard {} for updates again {} times without a "
                                        "new push: a flood",
                                        shard_, budget_.limit())});
      forget(id);
      return;
    }
  }
  if (plan.resync) {
    // Never a resync of its own: the K parts of a resync must be of one version, and only the
    // leader's decision (member_change with resync, at the leader's version) gives every shard
    // the same one. Mostly the leader decides first: the worker asks every shard, this shard
    // trails the leader (it makes v only after the leader's commit of v) and both rings keep the
    // same number of updates (recent_updates_max), so when the leader still holds the first
    // update the worker lacks, this shard holds it too (its ring ends at its version <= the
    // leader's). Only the byte bound (recent_bytes_max) can evict sooner here, this range's
    // updates being larger than range 0's: then the leader is asked to decide (once per version).
    if (budget_.may_resync(id, version()))
      to_lead(slice_refused{shard_, id, 0,
                            fmt::format("it lacks updates after version {} that shard {} no "
                                        "longer keeps",
                                        held, shard_),
                            true});
    return;
  }
  if (!within_allowance(id, plan.bytes + plan.versions.size() * small_answer_bytes))
    return;
  for (auto v : plan.versions)
    send(id, update_msg{v});
}

/// The worker's resend allowance (resend_allowance.hpp); a worker over it floods: the leader is
/// told (a refused push of key 0 expels it) and this shard forgets it.
bool shard_core::within_allowance(std::uint32_t id, std::uint64_t bytes) {
  if (allowance_ && allowance_->take(id, bytes, now_))
    return true;
  if (!allowance_)
    return false;
  to_lead(slice_refused{shard_, id, 0,
                        fmt::format("it asked shard {} to send more again than its allowance: a "
                                    "flood",
                                    shard_)});
  forget(id);
  return false;
}

} // namespace dsq
