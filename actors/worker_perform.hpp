#pragma once

// How the worker actor (actors/worker.cpp) carries out what its core asks
// (training/worker/worker_effects.hpp): one `perform` per effect, each a CAF message, timer or
// exit; and the actor's state they act on. Only worker.cpp includes this.

#include "actors/unexpected_messages.hpp"
#include "actors/worker.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/taken_payload.hpp"
#include "training/shard/worker_shards.hpp"
#include "training/worker/worker_core.hpp"

#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

namespace dsq::worker_detail {

using send_push_atom = caf::atom_constant<caf::atom("send_push")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using lost_again_atom = caf::atom_constant<caf::atom("lost_again")>;
/// From a connecting thread to the worker: follower `shard`'s actor (invalid: unreachable).
using shard_conn_atom = caf::atom_constant<caf::atom("shardconn")>;
using clock_type = std::chrono::steady_clock;

struct worker_state {
  caf::actor server;
  /// Unexpected messages by kind, logged once each then counted (unexpected_messages.hpp).
  kind_tally unexpected;
  worker_options opts;
  /// The protocol (training/worker/worker_core.hpp); made when the behavior starts.
  std::optional<worker_core> core;
  /// The last push sent and not yet known to be in the server's hands, as the message that
  /// went: a resend is the same bytes by construction, and sending it again copies no payload.
  caf::message unacked;
  /// Where the core's next message goes: the server, or in a sharded run the shard a
  /// multiplexer's send_to names.
  caf::actor to;
  /// Sharded runs (from the leader's welcome naming K > 1 shards): the multiplexer between the
  /// core and the K connections (training/shard/worker_shards.hpp), the followers' actors by
  /// shard (index 0: the leader, `server`) and the shard of each actor.
  std::unique_ptr<worker_shards> mux;
  std::vector<caf::actor> shards;
  std::map<caf::actor_addr, std::uint32_t> shard_of;

  static inline const char* name = "dsq_worker";
};

/// The worker as an actor of its own (detached or scheduled: dsq local) or as a broker, which
/// runs in the middleman's thread (dsq worker): one behavior for both, written against `Self`.
using worker_actor = caf::stateful_actor<worker_state>;
using worker_broker = caf::stateful_actor<worker_state, caf::io::broker>;

template <class Self>
void fail(Self* self, const std::string& why) {
  self->quit(caf::make_error(caf::sec::runtime_error, why));
}

// -- carrying out the core's effects -----------------------------------------------------------

template <class Self>
void perform(Self* self, worker_effect::send_push& fx) {
  auto& st = self->state;
  st.unacked = caf::make_message(push_atom::value, std::move(fx.push));
  self->send(st.to, st.unacked);
}

template <class Self>
void perform(Self* self, worker_effect::resend_push&) {
  self->send(self->state.to, self->state.unacked);
}

template <class Self>
void perform(Self* self, worker_effect::send_probe& fx) {
  self->send(self->state.to, probe_atom::value, fx.pushed);
}

template <class Self>
void perform(Self* self, worker_effect::send_status& fx) {
  self->send(self->state.to, status_atom::value, fx.version);
}

template <class Self>
void perform(Self* self, worker_effect::send_heartbeat&) {
  self->send(self->state.to, heartbeat_atom::value);
}

template <class Self>
void perform(Self* self, worker_effect::send_register& fx) {
  auto& st = self->state;
  worker_hello hello{protocol_version, self, st.opts.host};
  hello.returning = fx.returning;
  hello.previous_id = fx.previous_id;
  self->send(st.to, register_atom::value, std::move(hello));
}

template <class Self>
void perform(Self* self, worker_effect::send_data_request& fx) {
  self->send(self->state.to, data_atom::value, fx.request);
}

template <class Self>
void perform(Self* self, worker_effect::send_leave& fx) {
  if (fx.failure)
    self->send(self->state.server, leave_atom::value, fx.id, farewell{*fx.failure, true});
  else
    self->send(self->state.server, leave_atom::value, fx.id);
  // Quit on the server's farewell, on its loss, or at the deadline (with the failure, if any).
  // Updates, grants, acks: too late. Skipped, not dropped: dropping answers the sender with an
  // error message, which would end the server.
  auto end = [self, failure = fx.failure] {
    if (failure)
      fail(self, *failure);
    else
      self->quit();
  };
  self->set_down_handler([=](caf::down_msg&) { end(); });
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(fx.deadline),
                     leave_atom::value);
  self->set_default_handler(caf::skip);
  self->become(caf::behavior{
      [=](shutdown_atom, const farewell&) { end(); },
      [=](leave_atom) { end(); },
  });
}

template <class Self>
void perform(Self* self, worker_effect::arm_timer& fx) {
  const auto after = std::chrono::duration_cast<std::chrono::microseconds>(fx.after);
  switch (fx.which) {
  case worker_effect::timer::retry:
    return self->delayed_send(self, after, retry_atom::value);
  case worker_effect::timer::straggler:
    return self->delayed_send(self, after, send_push_atom::value);
  case worker_effect::timer::heartbeat:
    return self->delayed_send(self, after, heartbeat_atom::value);
  case worker_effect::timer::reconnect:
    return self->delayed_send(self, after, lost_again_atom::value);
  }
}

template <class Self>
void perform(Self* self, worker_effect::say& fx) {
  if (self->state.opts.on_line) {
    self->state.opts.on_line(fx.line);
    return;
  }
  fmt::print("{}\n", fx.line);
  std::fflush(stdout); // a worker's log must show where it is, also when it is killed
}

template <class Self>
void perform(Self* self, worker_effect::find_server&) {
  self->state.opts.on_server_lost(self);
}

template <class Self>
void perform(Self* self, worker_effect::stop& fx) {
  if (fx.error)
    fail(self, fx.reason);
  else
    self->quit();
}

/// Carries out what the core asked for, in order.
template <class Self>
void act(Self* self, worker_effects effects) {
  self->state.to = self->state.server;
  for (auto& effect : effects)
    std::visit([self](auto& fx) { perform(self, fx); }, effect);
  if (!self->state.core->retransmit().unacknowledged() && !self->state.unacked.empty()) {
    // In the server's hands: no resend needs it, and its payload's memory serves the next push.
    self->state.core->recycle_payload(take_push_payload(self->state.unacked));
    self->state.unacked = caf::message{};
  }
}

} // namespace dsq::worker_detail
