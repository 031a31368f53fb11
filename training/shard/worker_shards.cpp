#include "training/shard/worker_shards.hpp"

#include "training/shard/sliced_payload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

namespace dsq {

namespace effect = worker_effect;
namespace shard_fx = worker_shard_effect;

worker_shards::worker_shards(worker_core& core, duration server_timeout)
    : core_(core), server_timeout_(server_timeout) {}

std::string worker_shards::endpoint(std::uint32_t shard) const {
  if (shard == 0 || shard >= map_.endpoints.size())
    return {};
  return map_.endpoints[shard];
}

std::string worker_shards::name(std::uint32_t shard) const {
  const auto where = endpoint(shard);
  return fmt::format("shard {} of {}{}", shard, count_,
                     where.empty() ? std::string{} : fmt::format(" ({})", where));
}

worker_shard_effects worker_shards::fail(std::string why) {
  stopped_ = true;
  return {shard_fx::local{effect::stop{true, std::move(why)}}};
}

void worker_shards::heard(std::uint32_t shard) {
  if (shard < unanswered_.size())
    unanswered_[shard].reset();
}

std::size_t worker_shards::held_versions() const {
  return static_cast<std::size_t>(
      std::count_if(held_.begin(), held_.end(), [](const auto& h) { return !h.second.given; }));
}

bool worker_shards::finished() const {
  return core_.joined() && total_steps_ > 0 && core_.version() >= total_steps_;
}

// -- the welcome -----------------------------------------------------------------------------

namespace {

/// Why `map` cannot be a run's shards for a leader's welcome of `model` coordinates, if so.
std::optional<std::string> bad_map(const shard_map& map, std::size_t model) {
  const auto k = map.ranges.size();
  std::uint64_t at = 0;
  for (const auto& r : map.ranges) {
    if (r.begin != at || r.end <= r.begin)
      return std::string{"its key ranges are not contiguous from 0"};
    at = r.end;
  }
  if (!map.endpoints.empty() && map.endpoints.size() != k)
    return fmt::format("it names {} endpoints for {} shards", map.endpoints.size(), k);
  if (model != map.ranges[0].size())
    return fmt::format("its model slice holds {} coordinates where range 0 holds {}", model,
                       map.ranges[0].size());
  return std::nullopt;
}

} // namespace

std::optional<std::string> worker_shards::mismatch(std::uint32_t shard, const welcome& w,
                                                   const welcome& lead) const {
  if (w.from_shard != shard)
    return fmt::format("{} sent a welcome marked as shard {}'s", name(shard), w.from_shard);
  if (w.worker_id != lead.worker_id || w.version != lead.version)
    return fmt::format("{} welcomed worker {} at version {}, the leader worker {} at version {}: "
                       "the shards disagree (run the same dsq version on every shard)",
                       name(shard), w.worker_id, w.version, lead.worker_id, lead.version);
  const auto size = map_.ranges[shard].size();
  if (w.model.size() != size)
    return fmt::format("{} sent a model slice of {} coordinates where its range holds {}",
                       name(shard), w.model.size(), size);
  const auto momentum = lead.momentum.empty() ? 0 : size;
  if (w.momentum.size() != momentum)
    return fmt::format("{} sent a momentum slice of {} coordinates where {} are due", name(shard),
                       w.momentum.size(), momentum);
  return std::nullopt;
}

welcome worker_shards::join(std::vector<welcome>& parts) const {
  welcome full = std::move(parts[0]);
  full.model.reserve(map_.ranges.back().end);
  for (std::size_t k = 1; k < parts.size(); ++k) {
    full.model.insert(full.model.end(), parts[k].model.begin(), parts[k].model.end());
    if (!full.momentum.empty())
      full.momentum.insert(full.momentum.end(), parts[k].momentum.begin(), parts[k].momentum.end());
  }
  full.from_shard = 0;
  return full;
}

bool worker_shards::welcome_completes(std::uint32_t shard, const welcome& w) const {
  if (stopped_ || !assembling() || shard == 0 || shard >= count_ || followers_[shard] ||
      mismatch(shard, w, *leader_welcome_))
    return false;
  for (std::uint32_t k = 1; k < count_; ++k)
    if (k != shard && !followers_[k])
      return false;
  return true;
}

worker_shard_effects worker_shards::begin_assembly(welcome& w, time_point now) {
  (void)now;
  const auto k = w.shards.count();
  if (count_ != 0 && k != count_)
    return fail(
        fmt::format("the leader's welcome names {} shards where it named {} before", k, count_));
  if (auto why = bad_map(w.shards, w.model.size()))
    return fail("the leader's welcome cannot be taken: " + *why);
  if (!w.momentum.empty() && w.momentum.size() != w.model.size())
    return fail("the leader's welcome holds a momentum slice of another size than its model's");
  count_ = k;
  map_ = w.shards;
  id_ = w.worker_id;
  total_steps_ = w.total_steps;
  connected_.resize(count_, false);
  ended_.assign(count_, false);
  connected_[0] = true;
  unanswered_.assign(count_, std::nullopt);
  followers_.assign(count_, std::nullopt);
  acked_.assign(count_, std::nullopt);
  sent_.assign(count_, std::nullopt);
  held_.clear();
  resyncs_.clear();
  early_grants_.clear();
  kept_.reset();
  leader_welcome_ = std::move(w);
  worker_shard_effects out;
  for (std::uint32_t s = 1; s < count_; ++s) {
    if (connected_[s])
      out.push_back(shard_fx::send_to{s, effect::send_register{true, id_}});
    else
      out.push_back(shard_fx::connect{s, endpoint(s)});
  }
  return out;
}

worker_shard_effects worker_shards::finish_assembly(time_point now) {
  std::vector<welcome> parts;
  parts.reserve(count_);
  parts.push_back(std::move(*leader_welcome_));
  for (std::uint32_t k = 1; k < count_; ++k)
    parts.push_back(std::move(*followers_[k]));
  leader_welcome_.reset();
  followers_.assign(count_, std::nullopt);
  auto full = join(parts);
  worker_shard_effects out;
  route_into(core_.on_welcome(full), now, out);
  if (!stopped_)
    give_complete(now, out); // the slice updates that came while the welcome was assembled
  // The grants that came meanwhile: worker_core takes a grant only once welcomed.
  auto grants = std::move(early_grants_);
  early_grants_.clear();
  for (const auto& [version, number] : grants)
    if (!stopped_)
      route_into(core_.on_grant(version, number, now), now, out);
  return out;
}

worker_shard_effects worker_shards::on_welcome(std::uint32_t shard, welcome& w, time_point now) {
  if (stopped_)
    return {};
  heard(shard);
  if (shard == 0) {
    if (assembling())
      return {}; // a copy of the welcome being assembled
    if (!core_.takes_welcome())
      return route(core_.on_welcome(w), now); // a copy of one taken: the core ignores it
    if (!sharded(w))
      return fail("the leader's welcome names no shards: a worker_shards is for sharded runs");
    return begin_assembly(w, now);
  }
  if (!assembling() || shard >= count_ || followers_[shard])
    return {}; // a copy, or from before the leader's welcome
  if (auto why = mismatch(shard, w, *leader_welcome_))
    return fail(*why);
  followers_[shard] = std::move(w);
  for (std::uint32_t k = 1; k < count_; ++k)
    if (!followers_[k])
      return {};
  return finish_assembly(now);
}

worker_shard_effects worker_shards::on_shard_connected(std::uint32_t shard, time_point now) {
  (void)now;
  if (stopped_ || shard == 0 || shard >= count_)
    return {};
  connected_[shard] = true;
  if (!assembling() || followers_[shard])
    return {};
  return {shard_fx::send_to{shard, effect::send_register{true, id_}}};
}

// -- updates ---------------------------------------------------------------------------------

worker_shard_effects worker_shards::on_update(std::uint32_t shard, model_update& u,
                                              time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (u.shard != shard)
    return fail(fmt::format("{} sent an update marked as shard {}'s", name(shard), u.shard));
  std::uint64_t base = 0;
  if (assembling())
    base = leader_welcome_->version;
  else if (core_.joined())
    base = core_.version();
  else
    return {}; // not a member now: worker_core would take none either
  if (u.version <= base)
    return {}; // old
  if (u.version > base + max_versions_ahead)
    return fail(fmt::format("{} sent version {} while this worker holds version {}: more than {} "
                            "versions ahead of the other shards",
                            name(shard), u.version, base, max_versions_ahead));
  auto& h = held_[u.version];
  if (h.slices.empty() && !h.given)
    h.slices.resize(count_);
  if (h.given || h.slices[shard])
    return {}; // a duplicate
  h.slices[shard] = std::move(u.payload);
  ++h.count;
  worker_shard_effects out;
  if (!assembling())
    give_complete(now, out);
  return out;
}

void worker_shards::give_complete(time_point now, worker_shard_effects& out) {
  prune();
  // Collected first: giving a version to the core may prune the held ones it then holds.
  std::vector<std::uint64_t> whole;
  for (const auto& [version, h] : held_)
    if (!h.given && h.count == count_)
      whole.push_back(version);
  for (const auto version : whole) {
    if (stopped_)
      return;
    auto it = held_.find(version);
    if (it == held_.end())
      continue; // the core already holds it
    auto& h = it->second;
    std::vector<payload> slices;
    slices.reserve(count_);
    for (auto& s : h.slices)
      slices.push_back(std::move(*s));
    h.slices.clear();
    h.given = true;
    model_update u{version, join_slices(slices), 0};
    route_into(core_.on_update(u, now), now, out);
  }
}

void worker_shards::prune() {
  if (core_.joined()) {
    const auto v = core_.version();
    held_.erase(held_.begin(), held_.upper_bound(v));
    resyncs_.erase(resyncs_.begin(), resyncs_.upper_bound(v));
  } else if (!assembling()) {
    held_.clear();
  }
  const auto awaited = core_.retransmit().unacknowledged();
  if (kept_ && (!awaited || *awaited != kept_->key))
    kept_.reset(); // worker_core no longer waits for it: no resend will name it
}

// -- pushes, acks, probes --------------------------------------------------------------------

std::optional<std::uint64_t> worker_shards::merged_ack() const {
  std::optional<std::uint64_t> least;
  for (const auto& a : acked_) {
    if (!a)
      return std::nullopt;
    least = least ? std::min(*least, *a) : *a;
  }
  return least;
}

worker_shard_effects worker_shards::on_ack(std::uint32_t shard, std::uint64_t key, time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  acked_[shard] = std::max(acked_[shard].value_or(key), key);
  if (auto all = merged_ack())
    return route(core_.on_ack(*all, now), now);
  return {};
}

worker_shard_effects worker_shards::on_resend(std::uint32_t shard, std::uint64_t key,
                                              time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  worker_shard_effects out;
  for (auto& e : core_.on_resend(key)) {
    if (auto* r = std::get_if<effect::resend_push>(&e)) {
      if (kept_ && kept_->key == r->key) // slice `shard` only: the others are in hand
        out.push_back(shard_fx::send_to{shard, effect::send_push{kept_->slices[shard], r->key}});
      continue;
    }
    route_into({std::move(e)}, now, out);
  }
  prune();
  return out;
}

worker_shard_effects worker_shards::on_sent(std::uint32_t shard, std::uint64_t latest,
                                            time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (!core_.joined()) // waiting for its welcome: the leader's answer says it is there
    return shard == 0 ? route(core_.on_sent(latest), now) : worker_shard_effects{};
  sent_[shard] = std::max(sent_[shard].value_or(latest), latest);
  std::optional<std::uint64_t> least;
  for (const auto& s : sent_) {
    if (!s)
      return {}; // not every shard has answered yet
    least = least ? std::min(*least, *s) : *s;
  }
  return route(core_.on_sent(*least), now);
}

void worker_shards::send_slices(const kept_push& kept, worker_shard_effects& out,
                                bool unacked_only) const {
  for (std::uint32_t k = 0; k < count_; ++k) {
    if (unacked_only && acked_[k] && *acked_[k] >= kept.key)
      continue;
    out.push_back(shard_fx::send_to{k, effect::send_push{kept.slices[k], kept.key}});
  }
}

worker_shard_effects worker_shards::push(gradient_push p, time_point started, time_point now) {
  if (stopped_)
    return {};
  return route(core_.push(std::move(p), started, now), now);
}

// -- resync ----------------------------------------------------------------------------------

worker_shard_effects worker_shards::on_resync(std::uint32_t shard, welcome& w, time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (assembling() || !core_.joined() || w.worker_id != id_ || w.version <= core_.version())
    return {}; // as worker_core: not for this replica, or old
  welcome lead;
  lead.worker_id = id_;
  lead.version = w.version;
  if (!w.momentum.empty())
    lead.momentum.resize(1); // a resync may leave the momentum out (zero); else a whole slice
  if (auto why = mismatch(shard, w, lead))
    return fail("resync: " + *why);
  auto& parts = resyncs_[w.version];
  if (parts.empty())
    parts.resize(count_);
  if (parts[shard])
    return {};
  parts[shard] = std::move(w);
  if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return !p; })) {
    while (resyncs_.size() > 4) // older resyncs a shard will never complete
      resyncs_.erase(resyncs_.begin());
    return {};
  }
  std::vector<welcome> whole;
  for (auto& p : parts)
    whole.push_back(std::move(*p));
  const auto with_momentum = std::count_if(whole.begin(), whole.end(),
                                           [](const welcome& p) { return !p.momentum.empty(); });
  if (with_momentum != 0 && with_momentum != static_cast<std::ptrdiff_t>(count_))
    return fail("resync: some shards sent their momentum slice and some did not");
  resyncs_.erase(resyncs_.begin(), resyncs_.upper_bound(whole[0].version));
  auto full = join(whole);
  worker_shard_effects out;
  route_into(core_.on_resync(full, now), now, out);
  if (!stopped_)
    give_complete(now, out); // updates after the resync's version that were waiting
  return out;
}

// -- the leader's messages, farewells, losses -------------------------------------------------

worker_shard_effects worker_shards::on_grant(std::uint32_t shard, std::uint64_t version,
                                             std::uint64_t number, time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (shard != 0)
    return {}; // grants are the leader's
  if (assembling()) {
    // The core would drop it (not welcomed yet) and hear it again only after its next probe.
    if (early_grants_.size() < max_early_grants)
      early_grants_.emplace_back(version, number);
    return {};
  }
  return route(core_.on_grant(version, number, now), now);
}

worker_shard_effects worker_shards::on_data_chunk(std::uint32_t shard, const data_chunk& c,
                                                  time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (shard != 0)
    return {}; // the data comes from the leader
  return route(core_.on_data_chunk(c, now), now);
}

worker_shard_effects worker_shards::on_reshard(std::uint32_t shard, const shard_assignment& a,
                                               time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (shard != 0)
    return {}; // the sampling shard is the leader's call
  return route(core_.on_reshard(a), now);
}

worker_shard_effects worker_shards::on_shutdown(std::uint32_t shard, const farewell& f,
                                                time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (shard == 0)
    return route(core_.on_shutdown(f, now), now);
  if (finished())
    return {}; // the run ended: the leader's farewell follows
  if (!f.error) {
    // The leader ended the run and told this follower first: its farewell may overtake the
    // leader's own, which follows on the leader's connection.
    ended_[shard] = true;
    return {};
  }
  return fail(fmt::format("{} ended this worker's run: {}", name(shard), f.reason));
}

worker_shard_effects worker_shards::on_reject(std::uint32_t shard, const farewell& f,
                                              time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  heard(shard);
  if (shard == 0)
    return route(core_.on_reject(f), now);
  return fail(fmt::format("{} declined this worker: {}", name(shard), f.reason));
}

worker_shard_effects worker_shards::on_shard_lost(std::uint32_t shard, time_point now) {
  if (stopped_ || shard >= count_)
    return {};
  if (shard == 0)
    return route(core_.on_server_lost(), now);
  connected_[shard] = false;
  if (finished() || ended_[shard])
    return {}; // the run ended: the leader's farewell follows
  return fail(fmt::format("lost {}: the run cannot go on without it", name(shard)));
}

worker_shard_effects worker_shards::on_retry_timer(time_point now) {
  if (stopped_)
    return {};
  // The leader's silence is worker_core's to judge; a follower's is judged here, because the
  // leader's answers (a grant sent again with each probe's answer) keep worker_core hearing.
  if (server_timeout_ > duration::zero())
    for (std::uint32_t k = 1; k < count_; ++k)
      if (unanswered_[k] && now - *unanswered_[k] >= server_timeout_)
        return fail(fmt::format("{} has not answered for {:g} s while this worker waited for it "
                                "(--server-timeout): it is stopped, hung or cut off",
                                name(k),
                                std::chrono::duration<double>(now - *unanswered_[k]).count()));
  return route(core_.on_retry_timer(now), now);
}

// -- routing worker_core's effects ------------------------------------------------------------

worker_shard_effects worker_shards::route(worker_effects effects, time_point now) {
  worker_shard_effects out;
  route_into(std::move(effects), now, out);
  return out;
}

void worker_shards::route_into(worker_effects effects, time_point now, worker_shard_effects& out) {
  for (auto& e : effects) {
    if (stopped_)
      break;
    if (auto* p = std::get_if<effect::send_push>(&e)) {
      if (count_ == 0) {
        out.push_back(shard_fx::send_to{0, std::move(e)}); // unsharded so far
        continue;
      }
      std::vector<std::span<const std::uint8_t>> parts;
      try {
        parts = split_slices(p->push.payload, count_);
      } catch (const std::exception& ex) {
        auto stop =
            fail(std::string{"this worker's push is not split over the shards: "} + ex.what());
        out.insert(out.end(), stop.begin(), stop.end());
        break;
      }
      kept_push kept{p->key, {}};
      kept.slices.reserve(count_);
      for (std::uint32_t k = 0; k < count_; ++k) {
        gradient_push s;
        s.worker_id = p->push.worker_id;
        s.step = p->push.step;
        s.loss = p->push.loss;
        s.grant = p->push.grant;
        s.shard = k;
        s.payload.assign(parts[k].begin(), parts[k].end());
        if (k < p->push.range_digests.size()) // --verify-replicas: shard k checks its range
          s.model_digest = p->push.range_digests[k];
        if (k == 0) { // the state is the leader's concern
          s.has_state = p->push.has_state;
          s.state = std::move(p->push.state);
        }
        kept.slices.push_back(std::move(s));
      }
      kept_ = std::move(kept);
      send_slices(*kept_, out, false);
    } else if (auto* r = std::get_if<effect::resend_push>(&e)) {
      if (kept_ && kept_->key == r->key)
        send_slices(*kept_, out, true);
    } else if (auto* probe = std::get_if<effect::send_probe>(&e)) {
      // Before the welcome only the leader knows this worker: a follower would not answer.
      const auto probed = core_.joined() ? count_ : std::min<std::uint32_t>(count_, 1);
      for (std::uint32_t k = 0; k < probed; ++k) {
        if (!connected_[k])
          continue;
        auto pushed = probe->pushed;
        if (pushed > 0 && acked_[k] && *acked_[k] >= pushed - 1)
          pushed = 0; // in that shard's hands: only its "sent" is asked for
        out.push_back(shard_fx::send_to{k, effect::send_probe{pushed}});
        if (!unanswered_[k])
          unanswered_[k] = now;
      }
      if (count_ == 0)
        out.push_back(shard_fx::send_to{0, std::move(e)});
    } else if (std::holds_alternative<effect::send_status>(e)) {
      for (std::uint32_t k = 0; k < count_; ++k)
        if (connected_[k])
          out.push_back(shard_fx::send_to{k, e});
      if (count_ == 0)
        out.push_back(shard_fx::send_to{0, std::move(e)});
    } else if (std::holds_alternative<effect::send_heartbeat>(e) ||
               std::holds_alternative<effect::send_register>(e) ||
               std::holds_alternative<effect::send_data_request>(e) ||
               std::holds_alternative<effect::send_leave>(e)) {
      out.push_back(shard_fx::send_to{0, std::move(e)}); // the leader's business
    } else {
      if (std::holds_alternative<effect::stop>(e))
        stopped_ = true;
      out.push_back(shard_fx::local{std::move(e)});
    }
  }
  prune();
}

} // namespace dsq
