#include "actors/shard_follower.hpp"

#include "actors/deliver_to_worker.hpp"
#include "actors/local_exits_only.hpp"
#include "actors/unexpected_messages.hpp"
#include "base/log_text.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/taken_payload.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

namespace dsq {

namespace {

using clock_type = std::chrono::steady_clock;
/// From this process to a follower spawned without its leader: begin (begin_follower).
using begin_atom = caf::atom_constant<caf::atom("shardbegin")>;

struct follower_state {
  std::optional<shard_core> core;
  caf::actor leader;
  std::uint32_t shard = 0;
  /// The workers' actors by the peer number the core knows them by, and the other way round.
  std::map<peer_id, caf::actor> handles;
  std::map<caf::actor_addr, peer_id> peers;
  peer_id next_peer = 1;
  /// The slice updates the core keeps, by version: one shared message for every recipient.
  std::map<std::uint64_t, caf::message> updates;
  std::function<void(std::string_view)> on_line;
  std::function<bool(std::uint64_t)> crash_hook; ///< follower_options::crash_hook
  kind_tally unexpected;

  static inline const char* name = "dsq_shard_follower";
};

using follower_actor = local_exits_only<follower_state>;

std::optional<peer_id> peer_at(follower_actor* self, const caf::actor_addr& addr) {
  auto& peers = self->state.peers;
  if (auto it = peers.find(addr); it != peers.end())
    return it->second;
  return std::nullopt;
}

std::optional<peer_id> sender_peer(follower_actor* self) {
  auto sender = self->current_sender();
  if (!sender)
    return std::nullopt;
  return peer_at(self, caf::actor_cast<caf::actor_addr>(sender));
}

peer_id peer_of(follower_actor* self, const caf::actor& worker) {
  auto& st = self->state;
  if (auto known = peer_at(self, worker.address()))
    return *known;
  auto peer = st.next_peer++;
  st.peers.emplace(worker.address(), peer);
  st.handles.emplace(peer, worker);
  return peer;
}

/// True if the current message comes from the leader's actor.
bool from_leader(follower_actor* self) {
  auto sender = self->current_sender();
  return sender && sender == self->state.leader.address();
}

/// Who may register `worker`: the worker itself, or code of this process on its behalf.
bool may_register(follower_actor* self, const caf::actor& worker) {
  auto sender = self->current_sender();
  if (sender && worker.address() == sender)
    return true;
  return worker.node() == self->node() && (!sender || sender->node() == self->node());
}

void to_leader_send(follower_actor* self, leader_message& m) {
  auto& st = self->state;
  std::visit(
      [&](auto& x) {
        using type = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<type, shard_join>)
          self->send(st.leader, shard_join_atom::value, std::move(x));
        else if constexpr (std::is_same_v<type, slice_held>)
          self->send(st.leader, held_atom::value, x);
        else if constexpr (std::is_same_v<type, slice_refused>)
          self->send(st.leader, refused_atom::value, std::move(x));
        else if constexpr (std::is_same_v<type, slice_update_msg>)
          self->send(st.leader, st.updates.at(x.version));
        else if constexpr (std::is_same_v<type, slice_saved>)
          self->send(st.leader, slice_saved_atom::value, std::move(x));
        else if constexpr (std::is_same_v<type, slice_traffic>)
          self->send(st.leader, traffic_atom::value, x);
        else if constexpr (std::is_same_v<type, distance_reply>) // Krum with K > 1
          self->send(st.leader, distance_reply_atom::value, std::move(x));
        else
          self->send(st.leader, shard_report_atom::value, x);
      },
      m);
}

void say(follower_actor* self, const std::string& line) {
  if (self->state.on_line)
    self->state.on_line(line);
  else
    std::fprintf(stderr, "%s\n", line.c_str());
}

void run(follower_actor* self, shard_effects effects) {
  auto& st = self->state;
  std::optional<std::uint64_t> made; // the latest version made by these effects
  for (auto& effect : effects) {
    if (auto* s = std::get_if<send_to>(&effect)) {
      if (auto it = st.handles.find(s->peer); it != st.handles.end())
        deliver(self, it->second, s->what, st.updates);
    } else if (auto* u = std::get_if<new_update>(&effect)) {
      st.updates.emplace(
          u->version, caf::make_message(update_atom::value,
                                        model_update{u->version, std::move(u->payload), st.shard}));
      // The dropped ones that no recipient still holds give their memory to the next update.
      for (auto it = st.updates.begin(); it != st.updates.end() && it->first < u->oldest_kept;
           it = st.updates.erase(it))
        st.core->recycle_update(take_update_payload(it->second));
      made = u->version;
    } else if (auto* w = std::get_if<watch>(&effect)) {
      if (auto it = st.handles.find(w->peer); it != st.handles.end())
        self->monitor(it->second);
    } else if (auto* l = std::get_if<to_leader>(&effect)) {
      to_leader_send(self, l->what);
    } else if (auto* stop = std::get_if<stop_shard>(&effect)) {
      if (stop->failed) {
        say(self, "dsq server: " + stop->error);
        self->quit(caf::make_error(caf::sec::runtime_error, stop->error));
      } else {
        self->quit();
      }
      return;
    }
  }
  if (made && st.crash_hook)
    st.crash_hook(*made); // after the update went out, as the leader's hook after its own
}

caf::behavior begun_behavior(follower_actor* self, follower_options opts);

caf::behavior follower_behavior(follower_actor* self, follower_options opts) {
  if (opts.leader)
    return begun_behavior(self, std::move(opts));
  self->set_default_handler(caf::skip); // workers come only after the leader named this shard
  return {
      [=](begin_atom, const std::string& endpoint, const caf::actor& leader) mutable {
        auto sender = self->current_sender();
        if (sender && sender->node() != self->node())
          return; // only this process begins it
        opts.endpoint = endpoint;
        opts.leader = leader;
        self->become(begun_behavior(self, opts));
      },
  };
}

caf::behavior begun_behavior(follower_actor* self, follower_options opts) {
  auto& st = self->state;
  st.leader = opts.leader;
  st.shard = opts.shard;
  st.on_line = std::move(opts.on_line);
  st.crash_hook = std::move(opts.crash_hook);
  st.core.emplace(opts.shard, opts.shards, opts.endpoint, opts.storage);
  self->set_error_handler([](caf::error&) {});
  self->set_default_handler(count_unexpected(self, "dsq shard"));
  self->monitor(st.leader);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    if (dm.source == s.leader.address())
      return run(self, s.core->leader_lost("lost the leader (shard 0): " +
                                           self->system().render(dm.reason)));
    if (auto peer = peer_at(self, dm.source))
      run(self, s.core->connection_closed(*peer, clock_type::now()));
  });
  run(self, st.core->start());
  auto core = [=]() -> shard_core& { return *self->state.core; };
  return {
      [=](shard_setup_atom, const shard_setup& s) {
        if (from_leader(self))
          run(self, core().set_up(s, clock_type::now()));
      },
      [=](member_atom, const member_change& m) {
        if (from_leader(self))
          run(self, core().member_changed(m, clock_type::now()));
      },
      [=](commit_atom, const round_commit& c) {
        if (from_leader(self))
          run(self, core().committed(c, clock_type::now()));
      },
      [=](slice_save_atom, const slice_save& o) {
        if (from_leader(self))
          run(self, core().save_ordered(o, clock_type::now()));
      },
      [=](shard_end_atom, const shard_end& e) {
        if (from_leader(self))
          run(self, core().ended(e, clock_type::now()));
      },
      // -- Krum with K > 1 (protocol 10) --
      [=](distance_query_atom, const distance_query& q) {
        if (from_leader(self))
          run(self, core().distances_asked(q, clock_type::now()));
      },
      [=](register_atom, const worker_hello& hello) {
        if (!hello.worker || !may_register(self, hello.worker))
          return;
        auto peer = peer_of(self, hello.worker);
        run(self, core().registered(registration{peer, hello.protocol, log_safe(hello.host),
                                                 hello.returning, hello.previous_id},
                                    clock_type::now()));
      },
      [=](push_atom, const gradient_push& p) {
        run(self, core().pushed(sender_peer(self), p, clock_type::now()));
      },
      [=](probe_atom, std::uint64_t pushed) {
        run(self, core().probed(sender_peer(self), pushed, clock_type::now()));
      },
      [=](status_atom, std::uint64_t held) {
        run(self, core().status(sender_peer(self), held, clock_type::now()));
      },
      [=](stop_atom) { // dsq server's signal handler: the leader ends the run, not this shard
        auto sender = self->current_sender();
        if (!sender || sender->node() == self->node())
          self->quit(caf::make_error(caf::sec::runtime_error, "stopped by a signal"));
      },
      // A worker's heartbeats and "starting" go to the leader; one sent here is ignored.
      [=](heartbeat_atom) {},
      [=](starting_atom) {},
  };
}

} // namespace

void begin_follower(const caf::actor& follower, const std::string& endpoint,
                    const caf::actor& leader) {
  caf::anon_send(follower, begin_atom::value, endpoint, leader);
}

caf::actor spawn_shard_follower(caf::actor_system& sys, follower_options opts) {
  if (opts.detached)
    return sys.spawn<caf::detached>(follower_behavior, std::move(opts));
  return sys.spawn(follower_behavior, std::move(opts));
}

} // namespace dsq
