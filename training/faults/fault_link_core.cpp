#include "training/faults/fault_link_core.hpp"

#include "base/random.hpp"

#include <algorithm>

namespace dsq {

namespace {

/// Streams of the seeded damage, apart from the streams of link_faults.
constexpr std::uint64_t corrupt_stream = 0xC0'22'0B'7E'00'00'00'00ull;

/// `ms` milliseconds as the clock's duration.
link_clock::duration millis(double ms) {
  return std::chrono::duration_cast<link_clock::duration>(
      std::chrono::duration<double, std::milli>(ms));
}

link_effect effect(link_effect::kind what, link_direction d, message_token token) {
  link_effect e;
  e.what = what;
  e.dir = d;
  e.token = token;
  return e;
}

} // namespace

void fault_link_core::learn_id(std::uint32_t id) {
  if (id_ == id)
    return;
  id_ = id;
  const auto& plan = injector_->plan();
  dir(link_direction::up).faults.emplace(plan, link_id{id, link_direction::up, shard_});
  dir(link_direction::down).faults.emplace(plan, link_id{id, link_direction::down, shard_});
}

std::string fault_link_core::where(link_direction d) const {
  return to_string(link_id{*id_, d, shard_});
}

// Pushes and updates, which the protocol sends once per step, are numbered by (verb, step,
// copy): the same seed loses the same pushes and updates at the same steps in every run, however
// heartbeats, status probes and resends fall in between; their k-th resend has a fate of its
// own. Other messages (heartbeats, status, acks, grants: driven by timers or by timing) are
// numbered in arrival order.
std::uint64_t fault_link_core::fate_index(direction_state& dir, const link_message& msg) {
  if (!msg.stepped_verb)
    return mix_seed(0x7469'6d65'6400ULL, dir.timed++);
  const auto verb = *msg.stepped_verb;
  const auto step = msg.step;
  const auto copy = dir.copies[{verb, step}]++;
  // Steps only grow: forget the copies of long-gone steps.
  if (dir.copies.size() > 4096)
    std::erase_if(dir.copies, [&](const auto& entry) { return entry.first.second + 1024 < step; });
  return mix_seed(mix_seed(verb, step), copy);
}

void fault_link_core::release_at(link_direction d, link_clock::time_point when, message_token token,
                                 link_clock::time_point now, std::vector<link_effect>& out) {
  auto& q = dir(d).queue;
  if (when <= now && q.empty()) {
    out.push_back(effect(link_effect::kind::deliver, d, token));
    return;
  }
  q.emplace(when, token);
  auto wake = effect(link_effect::kind::wake, d, token);
  wake.after = std::chrono::ceil<std::chrono::microseconds>(std::max(when - now, {}));
  out.push_back(wake);
}

std::vector<link_effect> fault_link_core::route(link_direction d, const link_message& msg,
                                                link_clock::time_point now) {
  std::vector<link_effect> out;
  auto& dir = this->dir(d);
  if (!dir.faults || !dir.faults->active()) {
    release_at(d, now, msg.token, now, out);
    return out;
  }
  const auto& plan = injector_->plan();
  const auto fate = dir.faults->decide(fate_index(dir, msg), msg.bytes);
  // Control messages ride a link that loses nothing: only their delay applies.
  const auto action = msg.data ? fate.action : message_action::deliver;
  if (action == message_action::drop) {
    injector_->record(msg.step, fault_kind::drop, where(d));
    out.push_back(effect(link_effect::kind::discard, d, msg.token));
    if (dir.held) { // the message it waited for is gone: it goes on its own
      auto held = *dir.held;
      dir.held.reset();
      release_at(d, now + millis(held.delay_ms), held.token, now, out);
    }
    return out;
  }
  // Delay = bandwidth (the direction is busy sending, one message after another) + latency.
  const double tx_ms = plan.bandwidth_bytes_per_s > 0
                           ? static_cast<double>(msg.bytes) / plan.bandwidth_bytes_per_s * 1000
                           : 0;
  const double latency_ms = std::max(0.0, fate.delay_ms - tx_ms);
  const auto start = std::max(now, dir.busy_until);
  dir.busy_until = start + millis(tx_ms);
  auto when = dir.busy_until + millis(latency_ms);
  if (plan.jitter_ms == 0)
    when = std::max(when, dir.last_release); // never overtake an earlier message
  dir.last_release = std::max(dir.last_release, when);
  // A message held for reordering goes right after this one (or is replaced by it).
  const auto previous = dir.held;
  dir.held.reset();
  if (action == message_action::hold) {
    injector_->record(msg.step, fault_kind::reorder, where(d));
    const double own_ms = std::chrono::duration<double, std::milli>(when - now).count();
    dir.held = held_message{msg.token, own_ms, ++dir.holds};
    // Bounded: the fate (held) is the plan's; only how long it waits depends on traffic.
    const double cap_ms = own_ms + std::max(min_hold_ms, plan.delay_ms + plan.jitter_ms);
    auto timer = effect(link_effect::kind::hold_timer, d, msg.token);
    timer.after = std::chrono::ceil<std::chrono::microseconds>(
        std::chrono::duration<double, std::milli>(cap_ms));
    timer.hold = dir.holds;
    out.push_back(timer);
  } else {
    if (action == message_action::duplicate) {
      injector_->record(msg.step, fault_kind::duplicate, where(d));
      auto copy = effect(link_effect::kind::copy, d, msg.token);
      copy.copy = new_token();
      out.push_back(copy);
      release_at(d, when, copy.copy, now, out);
    }
    release_at(d, when, msg.token, now, out);
  }
  if (previous)
    release_at(d, when, previous->token, now, out);
  return out;
}

std::vector<link_effect> fault_link_core::release_due(link_direction d,
                                                      link_clock::time_point now) {
  std::vector<link_effect> out;
  auto& q = dir(d).queue;
  while (!q.empty() && q.begin()->first <= now) {
    out.push_back(effect(link_effect::kind::deliver, d, q.begin()->second));
    q.erase(q.begin());
  }
  return out;
}

std::vector<link_effect> fault_link_core::hold_expired(link_direction d, std::uint64_t hold,
                                                       link_clock::time_point now) {
  std::vector<link_effect> out;
  auto& dir = this->dir(d);
  if (!dir.held || dir.held->hold != hold)
    return out; // released already, by a later message or a drop
  const auto held = *dir.held;
  dir.held.reset();
  release_at(d, std::max(now, dir.last_release), held.token, now, out);
  return out;
}

std::vector<link_effect> fault_link_core::end_down(link_direction dead,
                                                   link_clock::time_point now) {
  std::vector<link_effect> out;
  auto& gone = dir(dead);
  for (const auto& entry : gone.queue)
    out.push_back(effect(link_effect::kind::discard, dead, entry.second));
  gone.queue.clear();
  if (gone.held)
    out.push_back(effect(link_effect::kind::discard, dead, gone.held->token));
  gone.held.reset();
  const auto live_d = dead == link_direction::up ? link_direction::down : link_direction::up;
  auto& live = dir(live_d);
  if (live.held) {
    const auto held = *live.held;
    live.held.reset();
    release_at(live_d, std::max(now, live.last_release) + millis(held.delay_ms), held.token, now,
               out);
  }
  return out;
}

bool fault_link_core::pending(link_direction d) const {
  return !dir(d).queue.empty() || dir(d).held.has_value();
}

version_faults fault_link_core::version_seen(std::uint64_t v) {
  version_faults out;
  if (!id_ || shard_ != 0)
    return out;
  if (injector_->take(fault_kind::crash, *id_, v)) {
    injector_->record(v, fault_kind::crash, std::to_string(*id_));
    out.crash = true;
    return out;
  }
  if (!hanging_)
    if (auto f = injector_->take(fault_kind::hang, *id_, v)) {
      injector_->record(v, fault_kind::hang, std::to_string(*id_));
      hanging_ = true;
      out.hang = f->seconds;
    }
  return out;
}

push_damage fault_link_core::damage(std::uint64_t step) {
  push_damage out;
  if (!id_ || shard_ != 0)
    return out;
  const auto corrupt = injector_->take(fault_kind::corrupt, *id_, step);
  const auto poison = injector_->take(fault_kind::poison, *id_, step);
  if (poison) {
    injector_->record(step, fault_kind::poison, std::to_string(*id_));
    out.poison = true;
  }
  if (corrupt) {
    injector_->record(step, fault_kind::corrupt, std::to_string(*id_));
    out.corrupt_seed = mix_seed(mix_seed(injector_->plan().seed, corrupt_stream + *id_), step);
  }
  return out;
}

} // namespace dsq
