// The link actor of actors/fault_link.hpp: fault injection's CAF half. It carries messages and
// timers; what happens to each message (drop, duplicate, hold, delay, and when) and which
// worker fault fires is decided by training/faults/fault_link_core.hpp, the CAF-free half with
// the plan, fates, log and injector.

#include "actors/fault_link.hpp"

#include "base/random.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/faults/fault_link_core.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
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

using clock_type = link_clock;

/// Bytes counted for a message beyond its payload (CAF framing, ids, steps): bandwidth makes
/// even a heartbeat cost something.
constexpr std::size_t message_overhead = 64;

struct link_state {
  fault_link_options opts;
  std::optional<fault_link_core> core; ///< what happens to each message (training/faults/)
  std::map<message_token, caf::message> messages; ///< the messages the core holds tokens of
  caf::actor server, worker;
  std::uint64_t version = 0; ///< the latest model version seen on the link
  std::vector<std::pair<link_direction, caf::message>> hang_buffer;
  std::vector<caf::message> early_down; ///< from the server before the worker was attached
  /// Set when one end went down: the reason to quit with and the direction still delivered.
  std::optional<caf::error> closing;
  std::optional<link_direction> draining;

  static inline const char* name = "dsq_fault_link";
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

void maybe_finish_closing(link_actor* self) {
  auto& st = self->state;
  if (st.closing && (!st.draining || !st.core->pending(*st.draining)))
    self->quit(*st.closing);
}

/// Sends `msg` on to its end now (or keeps it while hanging or before the worker is known).
void deliver(link_actor* self, link_direction d, caf::message msg) {
  auto& st = self->state;
  if (st.core->hanging()) {
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

/// Carries out what the core decided, in order.
void carry_out(link_actor* self, const std::vector<link_effect>& effects) {
  auto& st = self->state;
  for (const auto& e : effects) {
    const bool up = e.dir == link_direction::up;
    switch (e.what) {
    case link_effect::kind::deliver: {
      auto msg = std::move(st.messages.at(e.token));
      st.messages.erase(e.token);
      deliver(self, e.dir, std::move(msg));
      break;
    }
    case link_effect::kind::copy:
      st.messages.emplace(e.copy, st.messages.at(e.token));
      break;
    case link_effect::kind::discard:
      st.messages.erase(e.token);
      break;
    case link_effect::kind::wake:
      self->delayed_send(self, e.after, release_atom::value, up);
      break;
    case link_effect::kind::hold_timer:
      self->delayed_send(self, e.after, hold_cap_atom::value, up, e.hold);
      break;
    }
  }
}

/// What the core needs to know of `msg` (`step` for the log and the fate of step messages).
link_message describe(message_token token, const caf::message& msg, std::uint64_t step) {
  const auto atom = first_atom(msg);
  const bool stepped =
      (atom == push_atom::value && msg.match_elements<push_atom, gradient_push>()) ||
      (atom == update_atom::value && msg.match_elements<update_atom, model_update>());
  link_message m{token, is_data(atom), wire_bytes(msg), step, std::nullopt};
  if (stepped)
    m.stepped_verb = static_cast<std::uint64_t>(atom);
  return m;
}

/// Applies the message faults of direction `d` to `msg` (`step` for the log).
void route(link_actor* self, link_direction d, caf::message msg, std::uint64_t step) {
  auto& st = self->state;
  const auto token = st.core->new_token();
  const auto info = describe(token, msg, step);
  st.messages.emplace(token, std::move(msg));
  carry_out(self, st.core->route(d, info, clock_type::now()));
}

void crash(link_actor* self, std::uint64_t step) {
  auto& st = self->state;
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
  const auto fired = self->state.core->version_seen(v);
  if (fired.crash) {
    crash(self, v);
    return false;
  }
  if (fired.hang && *fired.hang)
    self->delayed_send(self,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::duration<double>(**fired.hang)),
                       hang_end_atom::value);
  return true;
}

/// Corrupt and poison faults of a push going up.
caf::message damage_push(link_actor* self, caf::message msg) {
  const auto damage = self->state.core->damage(msg.get_as<gradient_push>(1).step);
  if (!damage.poison && !damage.corrupt_seed)
    return msg;
  auto p = msg.get_as<gradient_push>(1);
  if (damage.poison)
    poison_payload(p.payload);
  if (damage.corrupt_seed)
    corrupt_payload(p.payload, *damage.corrupt_seed);
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
      st.core->learn_id(w.worker_id);
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
  if (st.closing || st.core->hanging()) { // both ends gone, or a hung link: nothing to deliver
    self->quit(st.closing ? *st.closing : dm.reason);
    return;
  }
  st.closing = dm.reason;
  st.draining = worker_down ? link_direction::up : link_direction::down;
  carry_out(self, st.core->end_down(worker_down ? link_direction::down : link_direction::up,
                                    clock_type::now()));
  maybe_finish_closing(self);
}

caf::behavior link_behavior(link_actor* self, caf::actor server, fault_link_options opts) {
  auto& st = self->state;
  st.server = std::move(server);
  st.opts = std::move(opts);
  st.core.emplace(*st.opts.injector, st.opts.shard);
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
        const auto d = up ? link_direction::up : link_direction::down;
        carry_out(self, self->state.core->release_due(d, clock_type::now()));
        maybe_finish_closing(self);
      },
      [=](hold_cap_atom, bool up, std::uint64_t hold) {
        // The next message did not come within the bound: the held one goes on its own.
        const auto d = up ? link_direction::up : link_direction::down;
        carry_out(self, self->state.core->hold_expired(d, hold, clock_type::now()));
      },
      [=](hang_end_atom) {
        auto& st = self->state;
        st.core->end_hang();
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

caf::actor link_to_follower(caf::actor_system& sys, const caf::actor& follower, std::uint32_t shard,
                            const caf::actor& worker, fault_link_options opts) {
  opts.shard = shard;
  auto link = spawn_fault_link(sys, follower, std::move(opts));
  attach_worker(link, worker); // before the worker's registration, sent after this returns
  return link;
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
