#include "actors/parameter_server.hpp"

#include "actors/deliver_to_worker.hpp"
#include "actors/evaluator.hpp"
#include "actors/local_exits_only.hpp"
#include "actors/unexpected_messages.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/taken_payload.hpp"
#include "training/server/server_core.hpp"

#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>

namespace dsq {

namespace {

using clock_type = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using goodbye_atom = caf::atom_constant<caf::atom("goodbye")>;
/// From the server to itself: a worker's connection was lost (see the down handler).
using lost_atom = caf::atom_constant<caf::atom("lost")>;
/// From the server to itself: the end's wait for the followers' reports is over.
using shard_tick_atom = caf::atom_constant<caf::atom("shardtick")>;

struct server_state {
  std::optional<server_core> core;
  caf::actor evaluator;
  caf::actor network_layer;
  /// The actors the core knows, by the peer number it knows them by (server_effects.hpp), and
  /// the other way round. An entry goes when the core no longer names its peer.
  std::map<peer_id, caf::actor> handles;
  std::map<caf::actor_addr, peer_id> peers;
  peer_id next_peer = 1;
  /// The updates the core's ring keeps, by version: one shared message each, which every
  /// recipient and every resend share (in one process, the payload is never copied).
  std::map<std::uint64_t, caf::message> updates;
  /// Sharded runs: the followers' actors by shard, and the other way round (kept apart from
  /// the workers': the core names a follower by its shard, never as a worker's peer).
  std::map<std::uint32_t, caf::actor> followers;
  std::map<caf::actor_addr, std::uint32_t> follower_of;
  /// Followers whose report came: their end is the run's, not a loss to tell the core of.
  std::set<std::uint32_t> reported;
  /// Unexpected messages by kind: the first of each is logged, then counts (issue 29: one line
  /// each made 14,001 lines of one attacker's flood).
  kind_tally unexpected;

  static inline const char* name = "dsq_parameter_server";
};

/// The server as an actor of its own (detached or scheduled: dsq local, tests) or as a broker,
/// which runs in the middleman's thread (dsq server): one behavior for both, written against
/// `Self`.
using server_actor = local_exits_only<server_state>;
using server_broker = local_exits_only<server_state, caf::io::broker>;

// -- who is who -------------------------------------------------------------------------------

/// The peer of the actor at `addr`, if the core knows it.
template <class Self>
std::optional<peer_id> peer_at(Self* self, const caf::actor_addr& addr) {
  auto& peers = self->state.peers;
  if (auto it = peers.find(addr); it != peers.end())
    return it->second;
  return std::nullopt;
}

/// The peer of the actor that sent the current message, if the core knows it.
template <class Self>
std::optional<peer_id> sender_peer(Self* self) {
  auto sender = self->current_sender();
  if (!sender)
    return std::nullopt;
  return peer_at(self, caf::actor_cast<caf::actor_addr>(sender));
}

/// The peer of `worker`, numbered now if it has none.
template <class Self>
peer_id peer_of(Self* self, const caf::actor& worker) {
  auto& st = self->state;
  if (auto known = peer_at(self, worker.address()))
    return *known;
  auto peer = st.next_peer++;
  st.peers.emplace(worker.address(), peer);
  st.handles.emplace(peer, worker);
  return peer;
}

/// True if the current message comes from the actor that joined as follower `shard`.
template <class Self>
bool from_follower(Self* self, std::uint32_t shard) {
  auto sender = self->current_sender();
  auto& followers = self->state.followers;
  auto it = followers.find(shard);
  return sender && it != followers.end() && it->second.address() == sender;
}

/// Drops `peer` once the core no longer names it.
template <class Self>
void forget_if_done(Self* self, peer_id peer) {
  auto& st = self->state;
  if (st.core->knows(peer))
    return;
  if (auto it = st.handles.find(peer); it != st.handles.end()) {
    st.peers.erase(it->second.address());
    st.handles.erase(it);
  }
}

/// Whether the current message comes from an actor of this process (an anonymous one may come
/// from anywhere).
template <class Self>
bool from_this_process(Self* self) {
  auto sender = self->current_sender();
  return sender && sender->node() == self->node();
}

/// Who may register `worker`: the worker itself, or code of this process on its behalf (dsq
/// local registers its workers so that the server monitors them before they run).
template <class Self>
bool may_register(Self* self, const caf::actor& worker) {
  auto sender = self->current_sender();
  if (sender && worker.address() == sender)
    return true;
  const bool local_worker = worker.node() == self->node();
  return local_worker && (!sender || sender->node() == self->node());
}

// -- effects ----------------------------------------------------------------------------------

template <class Self>
void run(Self* self, server_effects effects);

/// Asks the evaluator; its answer (or failure) goes back to the core.
template <class Self>
void request_evaluation(Self* self, evaluation_request& e) {
  auto& st = self->state;
  const auto step = e.step;
  const bool with_train = e.with_train;
  self->request(st.evaluator, caf::infinite, eval_atom::value, step, std::move(e.params),
                with_train)
      .then(
          [=](double test_loss, double test_accuracy, double train_loss) {
            run(self, self->state.core->evaluated(step, with_train, test_loss, test_accuracy,
                                                  train_loss));
          },
          [=](caf::error& err) {
            run(self, self->state.core->evaluation_failed(self->system().render(err)));
          });
}

/// Sends one of the leader's messages to follower `f.shard`, on its one ordered channel.
template <class Self>
void send_to_follower(Self* self, send_to_shard& f) {
  auto& st = self->state;
  auto it = st.followers.find(f.shard);
  if (it == st.followers.end())
    return; // gone: the core hears of it through its down message
  const auto& to = it->second;
  std::visit(
      [&](auto& m) {
        using type = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<type, shard_setup>)
          self->send(to, shard_setup_atom::value, std::move(m));
        else if constexpr (std::is_same_v<type, round_commit>)
          self->send(to, commit_atom::value, std::move(m));
        else if constexpr (std::is_same_v<type, member_change>)
          self->send(to, member_atom::value, m);
        else if constexpr (std::is_same_v<type, slice_save>)
          self->send(to, slice_save_atom::value, m);
        else if constexpr (std::is_same_v<type, distance_query>) // Krum with K > 1
          self->send(to, distance_query_atom::value, std::move(m));
        else
          self->send(to, shard_end_atom::value, std::move(m));
      },
      f.what);
}

/// Ends the server and its evaluator.
template <class Self>
void stop(Self* self, const stop_server& s) {
  auto& st = self->state;
  if (s.killed) { // an injected crash: gone at once, with nothing written and nobody told
    self->send_exit(st.evaluator, caf::exit_reason::kill);
    self->quit(caf::exit_reason::kill);
    return;
  }
  self->send_exit(st.evaluator, caf::exit_reason::user_shutdown);
  if (s.failed)
    self->quit(caf::make_error(caf::sec::runtime_error, s.error));
  else
    self->quit();
}

/// Does what the core asked, in its order.
template <class Self>
void run(Self* self, server_effects effects) {
  auto& st = self->state;
  for (auto& effect : effects) {
    if (auto* s = std::get_if<send_to>(&effect)) {
      deliver(self, st.handles.at(s->peer), s->what, st.updates);
    } else if (auto* u = std::get_if<new_update>(&effect)) {
      st.updates.emplace(
          u->version,
          caf::make_message(update_atom::value, model_update{u->version, std::move(u->payload)}));
      // The dropped ones that no recipient still holds give their memory to the next update.
      for (auto it = st.updates.begin(); it != st.updates.end() && it->first < u->oldest_kept;
           it = st.updates.erase(it))
        st.core->recycle_update(take_update_payload(it->second));
    } else if (auto* w = std::get_if<watch>(&effect)) {
      self->monitor(st.handles.at(w->peer));
    } else if (auto* e = std::get_if<evaluation_request>(&effect)) {
      request_evaluation(self, *e);
    } else if (auto* t = std::get_if<arm_timer>(&effect)) {
      if (t->which == server_timer::liveness)
        self->delayed_send(self, t->after, tick_atom::value);
      else if (t->which == server_timer::shard_reports)
        self->delayed_send(self, t->after, shard_tick_atom::value);
      else
        self->delayed_send(self, t->after, goodbye_atom::value);
    } else if (auto* d = std::get_if<defer_loss>(&effect)) {
      self->send(self, lost_atom::value, st.handles.at(d->peer).address(), d->why);
    } else if (auto* f = std::get_if<send_to_shard>(&effect)) {
      send_to_follower(self, *f);
    } else if (auto* r = std::get_if<refuse_shard>(&effect)) {
      if (auto it = st.handles.find(r->peer); it != st.handles.end()) {
        self->send(it->second, shard_end_atom::value, shard_end{true, r->why});
        st.peers.erase(it->second.address());
        st.handles.erase(it);
      }
    } else {
      stop(self, std::get<stop_server>(effect));
    }
  }
}

// -- the behavior -----------------------------------------------------------------------------

/// A down message: CAF's network layer (the run cannot go on) or a worker's connection.
template <class Self>
void on_down(Self* self, caf::down_msg& dm) {
  auto& st = self->state;
  if (st.network_layer && dm.source == st.network_layer.address())
    return run(self, st.core->network_lost("CAF's network layer ended (" +
                                           self->system().render(dm.reason) +
                                           "), probably on a message it could not decode; no "
                                           "worker can be reached"));
  if (auto f = st.follower_of.find(dm.source); f != st.follower_of.end()) {
    const auto shard = f->second;
    st.followers.erase(shard);
    st.follower_of.erase(f);
    if (st.reported.count(shard) > 0)
      return; // it stopped after its report, as told: the core was told all it needs
    return run(self,
               st.core->shard_lost(shard, self->system().render(dm.reason), clock_type::now()));
  }
  auto peer = peer_at(self, dm.source);
  if (!peer)
    return;
  run(self, st.core->connection_closed(
                *peer, "connection lost: " + self->system().render(dm.reason), clock_type::now()));
  forget_if_done(self, *peer);
}

template <class Self>
caf::behavior server_behavior(Self* self, server_options opts) {
  auto& st = self->state;
  st.network_layer = opts.network_layer;
  const bool detached = opts.detached;
  auto setup = opts.setup;
  st.core.emplace(server_setup{std::move(opts)}, clock_type::now());
  st.evaluator = spawn_evaluator(self->system(), setup, detached);
  // CAF ends an actor on an error message it did not ask for: a stranger could end the run with
  // one. The server asks nothing of other actors, so no error message is its concern. (Exit
  // messages from other processes never get here: local_exits_only.)
  self->set_error_handler([](caf::error&) {});
  self->set_default_handler(count_unexpected(self, "dsq server"));
  if (st.network_layer)
    self->monitor(st.network_layer);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  run(self, st.core->start());
  auto core = [=]() -> server_core& { return *self->state.core; };
  return {
      [=](register_atom, const worker_hello& hello) {
        if (!hello.worker || !may_register(self, hello.worker))
          return; // a hello for somebody else's actor: not the sender's to give
        auto peer = peer_of(self, hello.worker);
        // The host name is the peer's to choose: capped and printable before any log line.
        run(self, core().registered(registration{peer, hello.protocol, log_safe(hello.host),
                                                 hello.returning, hello.previous_id},
                                    clock_type::now()));
        forget_if_done(self, peer);
      },
      [=](push_atom, const gradient_push& p) {
        run(self, core().pushed(sender_peer(self), p, clock_type::now()));
      },
      [=](heartbeat_atom) { run(self, core().heartbeat(sender_peer(self), clock_type::now())); },
      [=](starting_atom) { run(self, core().starting(sender_peer(self), clock_type::now())); },
      [=](probe_atom, std::uint64_t pushed) {
        run(self, core().probed(sender_peer(self), pushed, clock_type::now()));
      },
      [=](status_atom, std::uint64_t held) {
        run(self, core().status(sender_peer(self), held, clock_type::now()));
      },
      [=](data_atom, const data_request& r) {
        run(self, core().data_requested(sender_peer(self), r, clock_type::now()));
      },
      [=](leave_atom, std::uint32_t id) {
        run(self, core().left(sender_peer(self), id, clock_type::now()));
      },
      // A worker that cannot go on says why; the reason comes from the network and ends up in
      // a log line: capped and made printable first.
      [=](leave_atom, std::uint32_t id, const farewell& why) {
        run(self, core().worker_failed(sender_peer(self), id, log_safe(why.reason, log_text_chars),
                                       clock_type::now()));
      },
      [=](tick_atom) { run(self, core().tick(clock_type::now())); },
      // -- follower shards (sharded runs; net/PROTOCOL.md, "Shards") --
      [=](shard_join_atom, const shard_join& j) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender || self->state.followers.count(j.shard) > 0) {
          if (sender) // a second follower for the same range; other refusals are the core's
            self->send(sender, shard_end_atom::value,
                       shard_end{true, fmt::format("shard {} has joined already", j.shard)});
          return;
        }
        auto& s = self->state;
        s.followers.emplace(j.shard, sender);
        s.follower_of.emplace(sender.address(), j.shard);
        self->monitor(sender);
        auto peer = s.next_peer++;
        s.peers.emplace(sender.address(), peer);
        s.handles.emplace(peer, sender);
        run(self, core().shard_joined(peer, j, clock_type::now()));
        if (auto it = s.handles.find(peer); it != s.handles.end()) { // joined: a follower now
          s.peers.erase(sender.address());
          s.handles.erase(it);
        } else { // refused (refuse_shard closed it)
          s.followers.erase(j.shard);
          s.follower_of.erase(sender.address());
          self->demonitor(sender);
        }
      },
      [=](held_atom, const slice_held& h) {
        if (from_follower(self, h.shard))
          run(self, core().shard_held(h, clock_type::now()));
      },
      [=](refused_atom, const slice_refused& r) {
        if (from_follower(self, r.shard))
          run(self, core().shard_refused(r, clock_type::now()));
      },
      [=](update_atom, const model_update& u) {
        if (u.shard > 0 && from_follower(self, u.shard))
          run(self, core().shard_updated(u, clock_type::now()));
      },
      [=](traffic_atom, const slice_traffic& t) {
        if (from_follower(self, t.shard))
          run(self, core().shard_traffic(t, clock_type::now()));
      },
      [=](shard_report_atom, const shard_report& r) {
        if (from_follower(self, r.shard)) {
          self->state.reported.insert(r.shard);
          run(self, core().shard_reported(r, clock_type::now()));
        }
      },
      [=](slice_saved_atom, const slice_saved& saved) {
        if (from_follower(self, saved.shard))
          run(self, core().shard_saved(saved, clock_type::now()));
      },
      [=](shard_tick_atom) {
        if (self->current_sender() == self->ctrl())
          run(self, core().shard_reports_tick(clock_type::now()));
      },
      // -- Krum with K > 1 (protocol 10) --
      [=](distance_reply_atom, const distance_reply& r) {
        if (from_follower(self, r.shard))
          run(self, core().shard_distances(r, clock_type::now()));
      },
      [=](goodbye_atom) {
        if (self->current_sender() == self->ctrl())
          run(self, core().goodbye_tick(clock_type::now()));
      },
      [=](stop_atom) {
        // Only this process may stop the run (dsq's signal handler, tests): never the network.
        if (from_this_process(self))
          run(self, core().stop_requested(clock_type::now()));
      },
      [=](lost_atom, const caf::actor_addr& worker, const std::string& why) {
        if (self->current_sender() != self->ctrl())
          return; // only the down handler says so
        if (auto peer = peer_at(self, worker)) {
          run(self, core().connection_lost(*peer, why, clock_type::now()));
          forget_if_done(self, *peer);
        }
      },
  };
}

} // namespace

server_options make_server_options(const run_config& cfg, training_setup setup) {
  server_options opts;
  opts.cfg = cfg;
  // Every output is checked before any training: a bad path is one clear error, at once.
  if (!cfg.resume.empty()) {
    opts.resume_from = read_checkpoint(cfg.resume);
    check_fits(*opts.resume_from, setup.net->num_parameters());
    check_same_training(*opts.resume_from, cfg);
    // A resumed run continues its metrics file rather than truncating it.
    opts.log = std::make_shared<run_log>(cfg.metrics, append_at_step{opts.resume_from->version},
                                         static_cast<std::uint32_t>(cfg.servers));
  } else {
    opts.log = std::make_shared<run_log>(cfg.metrics, static_cast<std::uint32_t>(cfg.servers));
  }
  if (!cfg.summary.empty())
    check_writable(cfg.summary, "summary");
  if (!cfg.checkpoint.empty())
    check_checkpoint_dir(cfg.checkpoint);
  // Every worker needs a non-empty shard; the run's length must make sense for this data.
  const auto samples = data_of(setup)->train_size();
  total_steps(cfg, samples);
  if (std::max(cfg.workers, cfg.min_workers) > samples)
    throw config_error(fmt::format("{} workers but only {} training samples: every worker needs "
                                   "at least one",
                                   std::max(cfg.workers, cfg.min_workers), samples));
  opts.setup = std::move(setup);
  opts.verbose = !cfg.quiet;
  opts.shards = static_cast<std::uint32_t>(cfg.servers);
  return opts;
}

caf::actor spawn_parameter_server(caf::actor_system& sys, server_options opts) {
  if (opts.in_middleman)
    return sys.middleman().spawn_broker(server_behavior<server_broker>, std::move(opts));
  if (opts.detached)
    return sys.spawn<caf::detached>(server_behavior<server_actor>, std::move(opts));
  return sys.spawn(server_behavior<server_actor>, std::move(opts));
}

} // namespace dsq
