// The link actor of actors/fault_link.hpp: fault injection's CAF half (the CAF-free half, plan,
// fates, log and injector, is training/faults/).

#include "actors/fault_link.hpp"

#include "base/random.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <vector>

namespace dsq {

namespace {

using release_atom = caf::atom_constant<caf::atom("fl_release")>;
using hang_end_atom = caf::atom_constant<caf::atom("fl_hangend")>;
/// (hold_cap_atom, up, hold number): a held message's bound has passed.
using hold_cap_atom = caf::atom_constant<caf::atom("fl_holdcap")>;

using clock_type = std::chrono::steady_clock;

/// Bytes counted for a message beyond its payload (CAF framing, ids, steps): bandwidth makes
/// even a heartbeat cost something.
constexpr std::size_t message_overhead = 64;

/// Streams of the seeded damage, apart from the streams of link_faults.
constexpr std::uint64_t corrupt_stream = 0xC0'22'0B'7E'00'00'00'00ull;

/// `ms` milliseconds as the clock's duration.
clock_type::duration millis(double ms) {
  return std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double, std::milli>(ms));
}

/// The least time a held message waits for the next one beyond its own delay. A held message
/// goes after the next message of its direction or after max(this, delay + jitter), whichever
/// comes first: a sync update is the last message of its step, and waiting for the next one
/// would hold it until the worker's retry.
constexpr double min_hold_ms = 10;

/// A message held back by a reorder fault until the next message of its direction.
struct held_message {
  caf::message msg;
  double delay_ms = 0;    ///< what its own delay would have been
  std::uint64_t hold = 0; ///< its number among the holds of the direction (for its timer)
};

/// One direction of the link.
struct direction_state {
  std::optional<link_faults> faults;                         ///< once the worker's id is known
  std::multimap<clock_type::time_point, caf::message> queue; ///< by release time, FIFO on ties
  clock_type::time_point busy_until{};                       ///< bandwidth: busy sending
  clock_type::time_point last_release{};                     ///< keeps FIFO order
  std::optional<held_message> held;
  std::uint64_t holds = 0; ///< messages held so far
  /// Copies of each (verb, step) of the protocol's step messages seen so far: a resend is the
  /// next copy, with a fate of its own.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> copies;
  std::uint64_t timed = 0; ///< timer-driven and other messages seen so far
};

struct link_state {
  fault_link_options opts;
  caf::actor server, worker;
  std::optional<std::uint32_t> id; ///< the worker's id, from the welcome
  std::uint64_t version = 0;       ///< the latest model version seen on the link
  std::array<direction_state, 2> dirs;
  bool hanging = false;
  std::vector<std::pair<link_direction, caf::message>> hang_buffer;
  std::vector<caf::message> early_down; ///< from the server before the worker was attached
  /// Set when one end went down: the reason to quit with and the direction still delivered.
  std::optional<caf::error> closing;
  std::optional<link_direction> draining;

  static inline const char* name = "dsq_fault_link";

  direction_state& dir(link_direction d) { return dirs[d == link_direction::up ? 0 : 1]; }
};

using link_actor = caf::stateful_actor<link_state>;

bool is_data(caf::atom_value a) {
  return a == push_atom::value || a == update_atom::value || a == grant_atom::value ||
         a == heartbeat_atom::value || a == status_atom::value || a == ack_atom::value ||
         a == probe_atom::value || a == resend_atom::value || a == sent_atom::value;
}

caf::atom_value first_atom(const caf::message& msg) {
  if (!msg.empty() && msg.match_element<caf::atom_value>(0))
    return msg.get_as<caf::atom_value>(0);
  return caf::atom("");
}

/// The bytes a message costs on a rate-limited link.
std::size_t wire_bytes(const caf::message& msg) {
  if (msg.match_elements<push_atom, gradient_push>())
    return msg.get_as<gradient_push>(1).payload.size() + message_overhead;
  if (msg.match_elements<update_atom, model_update>())
    return msg.get_as<model_update>(1).payload.size() + message_overhead;
  for (caf::atom_value atom :
       {caf::atom_value{welcome_atom::value}, caf::atom_value{resync_atom::value}})
    if (first_atom(msg) == atom && msg.size() == 2 && msg.match_element<welcome>(1)) {
      const auto& w = msg.get_as<welcome>(1);
      return (w.model.size() + w.momentum.size()) * sizeof(float) + message_overhead;
    }
  return message_overhead;
}

/// Whether messages toward `d`'s destination are still queued or held.
bool pending_toward(link_actor* self, link_direction d) {
  auto& st = self->state;
  return !st.dir(d).queue.empty() || st.dir(d).held.has_value();
}

void maybe_finish_closing(link_actor* self) {
  auto& st = self->state;
  if (st.closing && (!st.draining || !pending_toward(self, *st.draining)))
    self->quit(*st.closing);
}

/// Sends `msg` on to its end now (or keeps it while hanging or before the worker is known).
void deliver(link_actor* self, link_direction d, caf::message msg) {
  auto& st = self->state;
  if (st.hanging) {
    st.hang_buffer.emplace_back(d, std::move(msg));
    return;
  }
  if (st.closing && st.draining != d)
    return; // its destination is gone
  if (d == link_direction::up) {
    self->send(st.server, std::move(msg));
  } else if (!st.worker) {
    st.early_down.push_back(std::move(msg));
  } else {
    self->send(st.worker, std::move(msg));
  }
}

/// Queues `msg` for release at `when`, or delivers it now when it is due and nothing is ahead.
void release_at(link_actor* self, link_direction d, clock_type::time_point when, caf::message msg) {
  auto& dir = self->state.dir(d);
  const auto now = clock_type::now();
  if (when <= now && dir.queue.empty()) {
    deliver(self, d, std::move(msg));
    return;
  }
  dir.queue.emplace(when, std::move(msg));
  const auto wait = std::chrono::ceil<std::chrono::microseconds>(std::max(when - now, {}));
  self->delayed_send(self, wait, release_atom::value, d == link_direction::up);
}

/// Delivers the queued messages of `d` that are due, in release order.
void release_due(link_actor* self, link_direction d) {
  auto& queue = self->state.dir(d).queue;
  const auto now = clock_type::now();
  while (!queue.empty() && queue.begin()->first <= now) {
    auto msg = std::move(queue.begin()->second);
    queue.erase(queue.begin());
    deliver(self, d, std::move(msg));
  }
  maybe_finish_closing(self);
}

std::string where(link_actor* self, link_direction d) {
  return to_string(link_id{*self->state.id, d});
}

/// The index of `msg` for its fate (link_faults::decide). Pushes and updates, which the protocol
/// sends once per step, are numbered by (verb, step, copy): the same seed loses the same pushes
/// and updates at the same steps in every run, however heartbeats, status probes and resends
/// fall in between; their k-th resend has a fate of its own. Other messages (heartbeats, status,
/// acks, grants: driven by timers or by timing) are numbered in arrival order.
std::uint64_t fate_index(direction_state& dir, const caf::message& msg, std::uint64_t step) {
  const auto atom = first_atom(msg);
  const bool stepped =
      (atom == push_atom::value && msg.match_elements<push_atom, gradient_push>()) ||
      (atom == update_atom::value && msg.match_elements<update_atom, model_update>());
  if (!stepped)
    return mix_seed(0x7469'6d65'6400ULL, dir.timed++);
  const auto verb = static_cast<std::uint64_t>(atom);
  const auto copy = dir.copies[{verb, step}]++;
  // Steps only grow: forget the copies of long-gone steps.
  if (dir.copies.size() > 4096)
    std::erase_if(dir.copies, [&](const auto& entry) { return entry.first.second + 1024 < step; });
  return mix_seed(mix_seed(verb, step), copy);
}

/// Applies the message faults of direction `d` to `msg` (`step` for the log).
void route(link_actor* self, link_direction d, caf::message msg, std::uint64_t step) {
  auto& st = self->state;
  auto& dir = st.dir(d);
  const auto now = clock_type::now();
  if (!dir.faults || !dir.faults->active()) {
    release_at(self, d, now, std::move(msg));
    return;
  }
  const auto& plan = st.opts.injector->plan();
  const auto bytes = wire_bytes(msg);
  const auto fate = dir.faults->decide(fate_index(dir, msg, step), bytes);
  const bool data = is_data(first_atom(msg));
  // Control messages ride a link that loses nothing: only their delay applies.
  const auto action = data ? fate.action : message_action::deliver;
  if (action == message_action::drop) {
    st.opts.injector->record(step, fault_kind::drop, where(self, d));
    if (dir.held) { // the message it waited for is gone: it goes on its own
      auto held = std::move(*dir.held);
      dir.held.reset();
      release_at(self, d, now + millis(held.delay_ms), std::move(held.msg));
    }
    return;
  }
  // Delay = bandwidth (the direction is busy sending, one message after another) + latency.
  const double tx_ms = plan.bandwidth_bytes_per_s > 0
                           ? static_cast<double>(bytes) / plan.bandwidth_bytes_per_s * 1000
                           : 0;
  const double latency_ms = std::max(0.0, fate.delay_ms - tx_ms);
  const auto start = std::max(now, dir.busy_until);
  dir.busy_until = start + millis(tx_ms);
  auto when = dir.busy_until + millis(latency_ms);
  if (plan.jitter_ms == 0)
    when = std::max(when, dir.last_release); // never overtake an earlier message
  dir.last_release = std::max(dir.last_release, when);
  // A message held for reordering goes right after this one (or is replaced by it).
  std::optional<held_message> previous = std::move(dir.held);
  dir.held.reset();
  if (action == message_action::hold) {
    st.opts.injector->record(step, fault_kind::reorder, where(self, d));
    const double own_ms = std::chrono::duration<double, std::milli>(when - now).count();
    dir.held = held_message{std::move(msg), own_ms, ++dir.holds};
    // Bounded: the fate (held) is the plan's; only how long it waits depends on traffic.
    const double cap_ms = own_ms + std::max(min_hold_ms, plan.delay_ms + plan.jitter_ms);
    self->delayed_send(self,
                       std::chrono::ceil<std::chrono::microseconds>(
                           std::chrono::duration<double, std::milli>(cap_ms)),
                       hold_cap_atom::value, d == link_direction::up, dir.holds);
  } else {
    if (action == message_action::duplicate) {
      st.opts.injector->record(step, fault_kind::duplicate, where(self, d));
      release_at(self, d, when, msg);
    }
    release_at(self, d, when, std::move(msg));
  }
  if (previous)
    release_at(self, d, when, std::move(previous->msg));
}

void start_hang(link_actor* self, const worker_fault& f, std::uint64_t step) {
  auto& st = self->state;
  st.opts.injector->record(step, fault_kind::hang, std::to_string(*st.id));
  st.hanging = true;
  if (f.seconds)
    self->delayed_send(self,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::duration<double>(*f.seconds)),
                       hang_end_atom::value);
}

void crash(link_actor* self, std::uint64_t step) {
  auto& st = self->state;
  st.opts.injector->record(step, fault_kind::crash, std::to_string(*st.id));
  if (st.opts.crash_exits_process) {
    try {
      st.opts.injector->sync();
    } catch (const std::exception&) {
      // The row was handed to the OS already; the crash happens regardless.
    }
    std::fprintf(stderr, "dsq worker: injected crash (--faults.crash) at step %llu\n",
                 static_cast<unsigned long long>(step));
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_injected_worker_crash);
  }
  if (st.worker)
    self->send_exit(st.worker, caf::exit_reason::kill);
  self->quit(caf::exit_reason::kill);
}

/// Worker faults triggered by a down message revealing model version `v`.
/// Returns false if the link is gone (crash).
bool on_version(link_actor* self, std::uint64_t v) {
  auto& st = self->state;
  auto& inj = *st.opts.injector;
  if (!st.id)
    return true;
  if (inj.take(fault_kind::crash, *st.id, v)) {
    crash(self, v);
    return false;
  }
  if (!st.hanging)
    if (auto f = inj.take(fault_kind::hang, *st.id, v))
      start_hang(self, *f, v);
  return true;
}

/// Learns the worker's id from a welcome; a new id (a worker that registered anew) gets the
/// message faults of its own links.
void learn_id(link_actor* self, std::uint32_t id) {
  auto& st = self->state;
  if (st.id == id)
    return;
  st.id = id;
  const auto& plan = st.opts.injector->plan();
  st.dir(link_direction::up).faults.emplace(plan, link_id{id, link_direction::up});
  st.dir(link_direction::down).faults.emplace(plan, link_id{id, link_direction::down});
}

/// Corrupt and poison faults of a push going up.
caf::message damage_push(link_actor* self, caf::message msg) {
  auto& st = self->state;
  if (!st.id)
    return msg;
  auto& inj = *st.opts.injector;
  const auto step = msg.get_as<gradient_push>(1).step;
  const auto corrupt = inj.take(fault_kind::corrupt, *st.id, step);
  const auto poison = inj.take(fault_kind::poison, *st.id, step);
  if (!corrupt && !poison)
    return msg;
  auto p = msg.get_as<gradient_push>(1);
  if (poison) {
    poison_payload(p.payload);
    inj.record(step, fault_kind::poison, std::to_string(*st.id));
  }
  if (corrupt) {
    corrupt_payload(p.payload, mix_seed(mix_seed(inj.plan().seed, corrupt_stream + *st.id), step));
    inj.record(step, fault_kind::corrupt, std::to_string(*st.id));
  }
  return caf::make_message(push_atom::value, std::move(p));
}

/// Every message but the link's own: classified, inspected, faults applied, forwarded.
void on_message(link_actor* self, caf::message msg) {
  auto& st = self->state;
  const auto sender = self->current_sender();
  const bool from_server = sender && sender == st.server.address();
  const bool from_worker = !from_server && (!st.worker || sender == st.worker.address());
  const auto d = from_worker ? link_direction::up : link_direction::down;
  if (st.closing && st.draining != d)
    return;
  const auto atom = first_atom(msg);
  std::uint64_t step = st.version;
  if (d == link_direction::up) {
    if (atom == register_atom::value && msg.match_elements<register_atom, worker_hello>()) {
      // The server ties the worker id to the actor that registers: the link.
      auto hello = msg.get_as<worker_hello>(1);
      hello.worker = caf::actor_cast<caf::actor>(self);
      msg = caf::make_message(register_atom::value, std::move(hello));
    } else if (atom == push_atom::value && msg.match_elements<push_atom, gradient_push>()) {
      step = msg.get_as<gradient_push>(1).step;
      msg = damage_push(self, std::move(msg));
    }
  } else {
    std::optional<std::uint64_t> revealed;
    if ((atom == welcome_atom::value || atom == resync_atom::value) && msg.size() == 2 &&
        msg.match_element<welcome>(1)) {
      const auto& w = msg.get_as<welcome>(1);
      learn_id(self, w.worker_id);
      revealed = w.version;
    } else if (atom == update_atom::value && msg.match_elements<update_atom, model_update>()) {
      revealed = msg.get_as<model_update>(1).version;
    }
    if (revealed) {
      st.version = std::max(st.version, *revealed);
      step = *revealed;
      if (!on_version(self, *revealed))
        return;
    }
  }
  route(self, d, std::move(msg), step);
}

/// One end went down: deliver what is due to the other end, then quit with the same reason.
void on_end_down(link_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  const bool worker_down = st.worker && dm.source == st.worker.address();
  const bool server_down = dm.source == st.server.address();
  if (!worker_down && !server_down)
    return;
  if (st.closing || st.hanging) { // both ends gone, or a hung link: nothing to deliver
    self->quit(st.closing ? *st.closing : dm.reason);
    return;
  }
  st.closing = dm.reason;
  st.draining = worker_down ? link_direction::up : link_direction::down;
  const auto dead = worker_down ? link_direction::down : link_direction::up;
  st.dir(dead).queue.clear();
  st.dir(dead).held.reset();
  // A held message waits for a next one that may never come: it goes now.
  auto& live = st.dir(*st.draining);
  if (live.held) {
    auto held = std::move(*live.held);
    live.held.reset();
    release_at(self, *st.draining,
               std::max(clock_type::now(), live.last_release) + millis(held.delay_ms),
               std::move(held.msg));
  }
  maybe_finish_closing(self);
}

caf::behavior link_behavior(link_actor* self, caf::actor server, fault_link_options opts) {
  auto& st = self->state;
  st.server = std::move(server);
  st.opts = std::move(opts);
  self->monitor(st.server);
  self->set_down_handler([=](caf::down_msg& dm) { on_end_down(self, dm); });
  self->set_default_handler(
      [=](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        on_message(self, x.move_content_to_message());
        return caf::message{};
      });
  return {
      [=](fault_attach_atom, const caf::actor& worker) {
        auto& st = self->state;
        if (st.worker || !worker)
          return;
        st.worker = worker;
        self->monitor(worker);
        for (auto& msg : std::exchange(st.early_down, {}))
          self->send(worker, std::move(msg));
      },
      [=](release_atom, bool up) {
        release_due(self, up ? link_direction::up : link_direction::down);
      },
      [=](hold_cap_atom, bool up, std::uint64_t hold) {
        // The next message did not come within the bound: the held one goes on its own.
        const auto d = up ? link_direction::up : link_direction::down;
        auto& dir = self->state.dir(d);
        if (!dir.held || dir.held->hold != hold)
          return; // released already, by a later message or a drop
        auto held = std::move(*dir.held);
        dir.held.reset();
        release_at(self, d, std::max(clock_type::now(), dir.last_release), std::move(held.msg));
      },
      [=](hang_end_atom) {
        auto& st = self->state;
        st.hanging = false;
        for (auto& [d, msg] : std::exchange(st.hang_buffer, {}))
          deliver(self, d, std::move(msg));
        maybe_finish_closing(self);
      },
  };
}

} // namespace

caf::actor spawn_fault_link(caf::actor_system& sys, caf::actor server, fault_link_options opts) {
  opts.injector->link_spawned();
  return sys.spawn(link_behavior, std::move(server), std::move(opts));
}

void attach_worker(const caf::actor& link, const caf::actor& worker) {
  caf::anon_send(link, fault_attach_atom::value, worker);
}

void corrupt_payload(std::vector<std::uint8_t>& payload, std::uint64_t seed) {
  if (payload.empty()) {
    payload.push_back(0xFF); // one byte is never a message
    return;
  }
  rng_engine rng{seed};
  const auto flip = [&](std::size_t at) {
    payload[at] ^= static_cast<std::uint8_t>(rng() | 1u); // never XOR with 0
  };
  // Byte 1 is the magic number of the wire format (docs/compression.md): decoding must fail.
  const std::size_t magic = std::min<std::size_t>(1, payload.size() - 1);
  flip(magic);
  // More damage elsewhere, never on the magic byte again (two flips could cancel out).
  for (int i = 0; i < 8 && payload.size() > 2; ++i)
    if (const auto at = static_cast<std::size_t>(rng() % payload.size()); at != magic)
      flip(at);
}

void poison_payload(std::vector<std::uint8_t>& payload) {
  compressed_message m;
  try {
    m = from_bytes(payload);
  } catch (const decode_error&) {
    return;
  }
  for (auto& v : m.values)
    v = std::numeric_limits<float>::quiet_NaN();
  for (auto& h : m.halves)
    h = 0x7E00; // an fp16 NaN
  payload = to_bytes(m);
}

} // namespace dsq
