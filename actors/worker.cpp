#include "actors/worker.hpp"

#include "actors/cpu_affinity.hpp"
#include "actors/unexpected_messages.hpp"
#include "net/atoms.hpp"
#include "net/messages.hpp"
#include "training/double_squeeze.hpp"
#include "training/push_policy.hpp"
#include "training/update_sequencer.hpp"
#include "training/worker_engine.hpp"

#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include <chrono>
#include <optional>

namespace dsq {

namespace {

using send_push_atom = caf::atom_constant<caf::atom("send_push")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using lost_again_atom = caf::atom_constant<caf::atom("lost_again")>;
using clock_type = std::chrono::steady_clock;

/// Bounds of the retransmission timeout: never busier than this, never lazier than that.
constexpr auto min_retry = std::chrono::milliseconds(20);
constexpr auto max_retry = std::chrono::milliseconds(1000);
/// A retry timer that fires this much after it was due finds the worker back from a pause.
constexpr auto late_timer = std::chrono::milliseconds(500);

struct worker_state {
  caf::actor server;
  /// Unexpected messages by kind, logged once each then counted (unexpected_messages.hpp).
  kind_tally unexpected;
  worker_options opts;
  run_config cfg;
  std::uint32_t id = 0;
  std::uint64_t total_steps = 0;
  std::uint64_t state_every = 0; ///< attach the state to pushes of these steps (welcome)
  std::optional<worker_engine> engine;
  update_sequencer updates;
  std::optional<push_policy> policy;
  double slow = 1;                      ///< --slow-worker factor of this worker
  std::optional<gradient_push> delayed; ///< a straggler's push, waiting for its send time
  // -- recovery (net/PROTOCOL.md, "Faults") ---------------------------------------------------
  /// The last push sent and not yet known to be in the server's hands: resent as the same
  /// bytes (computing again would fold the residual in twice).
  std::optional<caf::message> unacked;
  std::uint64_t unacked_key = 0; ///< its step (sync) or grant number (async)
  clock_type::time_point last_progress = clock_type::now(); ///< an update, grant, ack, or send
  /// The first probe the server has not answered (no message from it since): how long it has
  /// been silent to a waiting worker (worker_options::server_timeout).
  std::optional<clock_type::time_point> unanswered_since;
  clock_type::time_point pushed_at = clock_type::now();
  clock_type::duration round_trip = std::chrono::milliseconds(5); ///< smoothed push -> answer
  clock_type::duration backoff{}; ///< current retry interval; doubles while nothing comes
  bool retry_armed = false;
  clock_type::time_point retry_due; ///< when the armed retry timer should fire
  bool resent = false; ///< the unacknowledged push went more than once: its round trip says nothing
  bool registered = false;  ///< a welcome is expected (registered, not yet welcomed)
  bool orphaned = false;    ///< lost the server, waiting for (reconnect_atom, server)
  int stale_reconnects = 0; ///< reconnects answered with the server that died

  static inline const char* name = "dsq_worker";

  bool joined() const { return engine.has_value(); }
};

/// The worker as an actor of its own (detached or scheduled: dsq local) or as a broker, which
/// runs in the middleman's thread (dsq worker): one behavior for both, written against `Self`.
using worker_actor = caf::stateful_actor<worker_state>;
using worker_broker = caf::stateful_actor<worker_state, caf::io::broker>;

template <class Self>
void fail(Self* self, const std::string& why) {
  self->quit(caf::make_error(caf::sec::runtime_error, why));
}

// -- retransmission ----------------------------------------------------------------------------
// A worker that waits for the server (for the update after its push, or for a grant) and hears
// nothing for a few round trips asks before it sends anything large again: a probe (naming the
// push it waits to hear about) travels behind everything it sent, and the server's answer
// behind everything the server sent, so what the answer shows missing was lost, not slow. Only
// then does the push go again (resend_atom), or the worker ask for the updates it lacks
// (status_atom). Resending on a timer alone flooded slow links: a 4 MB push takes 1.4 s at
// 100 Mbit/s, far longer than any retry interval, and every copy made the next step slower. The
// interval doubles while nothing comes, and starts again at the next progress.

/// The retry interval after progress: a few smoothed round trips, within bounds.
clock_type::duration base_retry(const worker_state& st) {
  return std::clamp<clock_type::duration>(4 * st.round_trip, min_retry, max_retry);
}

template <class Self>
void arm_retry(Self* self, clock_type::duration after) {
  auto& st = self->state;
  if (st.retry_armed)
    return;
  st.retry_armed = true;
  after = std::max<clock_type::duration>(after, min_retry);
  st.retry_due = clock_type::now() + after;
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(after),
                     retry_atom::value);
}

/// Something came from the server, or a push went to it: the wait starts anew.
template <class Self>
void progressed(Self* self) {
  auto& st = self->state;
  st.last_progress = clock_type::now();
  st.backoff = base_retry(st);
  arm_retry(self, st.backoff);
}

/// The push of key `key` (its step in sync, its grant number in async), or a later one, is in
/// the server's hands.
template <class Self>
void acknowledged(Self* self, std::uint64_t key) {
  auto& st = self->state;
  if (!st.unacked || key < st.unacked_key)
    return;
  st.unacked.reset();
  // Karn's rule: the answer to a resent push may answer either copy, so it is no sample. And one
  // sample moves the estimate at most to twice itself: a round trip that includes waiting for
  // others (sync) must not run the estimate, and with it the retry interval, up to its cap.
  if (st.resent)
    return;
  const auto sample =
      std::min<clock_type::duration>(clock_type::now() - st.pushed_at, 2 * st.round_trip);
  st.round_trip = (7 * st.round_trip + sample) / 8;
}

/// A message from the server: it is alive.
template <class Self>
void heard_from_server(Self* self) {
  self->state.unanswered_since.reset();
}

template <class Self>
void on_retry(Self* self) {
  auto& st = self->state;
  st.retry_armed = false;
  // Waiting for a welcome is waiting for the server too, but only the silence rule needs
  // probes then: without it nothing is asked.
  const bool awaits_welcome =
      st.registered && st.opts.server_timeout > clock_type::duration::zero();
  if (!(st.joined() || awaits_welcome) || st.orphaned || st.delayed)
    return; // nothing is owed to this worker (a straggler's timer sends its push)
  if (!awaits_welcome && !st.unacked && !st.policy->waiting(st.engine->version()))
    return; // not waiting: the next progress arms the timer again
  const auto now = clock_type::now();
  // A live server answers every probe, and probes go at least once a second while the worker
  // waits: a probe unanswered this long says it is stopped, hung or cut off behind an open
  // connection, which no down message will ever report. A timer this late says that this
  // worker was not running (stopped itself, or a suspended machine): that time is no silence
  // of the server's, and the next probe starts the count again.
  if (now - st.retry_due > late_timer)
    st.unanswered_since.reset();
  const auto limit = st.opts.server_timeout;
  if (limit > clock_type::duration::zero() && st.unanswered_since &&
      now - *st.unanswered_since >= limit)
    return fail(self,
                fmt::format("the server has not answered for {:g} s while this worker waited "
                            "for it (--server-timeout): it is stopped, hung or cut off",
                            std::chrono::duration<double>(now - *st.unanswered_since).count()));
  const auto quiet = now - st.last_progress;
  if (quiet < st.backoff)
    return arm_retry(self, st.backoff - quiet);
  const std::uint64_t pushed = st.unacked ? st.unacked_key + 1 : 0;
  self->send(st.server, probe_atom::value, pushed);
  if (!st.unanswered_since)
    st.unanswered_since = now;
  st.last_progress = now;
  st.backoff = std::min<clock_type::duration>(2 * st.backoff, max_retry);
  arm_retry(self, st.backoff);
}

/// Sends `p` and keeps it until the server has it.
template <class Self>
void send_push(Self* self, gradient_push p) {
  auto& st = self->state;
  st.unacked_key = st.policy->async() ? p.grant : p.step;
  st.unacked = caf::make_message(push_atom::value, std::move(p));
  st.pushed_at = clock_type::now();
  st.resent = false;
  self->send(st.server, *st.unacked);
  progressed(self);
}

/// Computes and pushes a gradient if the push policy says so. A straggler holds the push back
/// for (FACTOR − 1) times its compute time, still applying updates meanwhile.
template <class Self>
void maybe_push(Self* self) {
  auto& st = self->state;
  if (st.delayed || !st.policy->should_compute(st.engine->version()))
    return;
  const auto started = std::chrono::steady_clock::now();
  gradient_push p;
  if (st.state_every > 0 && st.engine->version() % st.state_every == 0) {
    // For the server's checkpoint of this step: the state before this gradient.
    p.has_state = true;
    p.state = st.engine->snapshot();
  }
  p.grant = st.policy->grant_number();
  auto g = st.engine->compute();
  st.policy->computed(g.step);
  p.worker_id = st.id;
  p.step = g.step;
  p.loss = g.loss;
  p.payload = std::move(g.payload);
  const auto every = st.cfg.verify_replicas;
  if (every > 0 && g.step % every == 0)
    p.model_digest = replica_digest(st.engine->x());
  if (st.slow > 1) {
    auto extra = (st.slow - 1) * (std::chrono::steady_clock::now() - started);
    st.delayed = std::move(p);
    self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(extra),
                       send_push_atom::value);
    return;
  }
  send_push(self, std::move(p));
}

template <class Self>
void adopt(Self* self, welcome& w) {
  auto& st = self->state;
  st.id = w.worker_id;
  st.cfg = std::move(w.config);
  st.total_steps = w.total_steps;
  st.state_every = w.state_every;
  if (st.opts.pin_process)
    pin_process_to_cpu_slot(static_cast<int>(st.id) + 1);
  if (!st.opts.setup.data)
    st.opts.setup = load_training(st.cfg);
  st.engine.emplace(st.cfg, st.opts.setup, st.id, w.version, w.model, w.momentum, w.shard);
  if (w.has_state) {
    st.engine->restore(w.state); // back after a server restart: exactly where the run was
    // The welcome's shard wins: the same one (nothing changes) when every member came back,
    // a new generation when not.
    st.engine->use_shard(w.shard);
  }
  st.updates = update_sequencer{w.version};
  st.policy.emplace(st.cfg.mode == "async", st.total_steps);
  st.slow = slow_factor(st.cfg, st.id);
  st.unacked.reset();
  st.delayed.reset();
  st.registered = false;
  if (st.opts.verbose)
    fmt::print("worker {}: {} at step {} of {}, shard {}/{} ({} samples){}\n", st.id,
               w.has_state ? "back with its state" : "joined", w.version, st.total_steps,
               w.shard.index + 1, w.shard.count, st.engine->shard_size(),
               st.slow > 1 ? fmt::format(", {}x slower", st.slow) : std::string{});
  std::fflush(stdout); // a worker's log must show where it is, also when it is killed
}

/// Takes an update in whatever order it came, applies every update that is next in line,
/// then pushes if the policy says so.
template <class Self>
void receive_update(Self* self, model_update& u) {
  auto& st = self->state;
  if (!st.updates.offer(u.version, std::move(u.payload)))
    return; // a duplicate, or from before this worker's welcome
  const auto before = st.engine->version();
  while (auto payload = st.updates.next())
    st.engine->apply(*payload);
  if (st.engine->version() > before) {
    if (!st.policy->async())
      acknowledged(self, st.engine->version() - 1); // the update answers every older push
    progressed(self);
  }
  maybe_push(self);
  const auto v = st.engine->version();
  if (st.opts.verbose && (v % 100 == 0 || v == st.total_steps)) {
    fmt::print("worker {}: step {}/{}\n", st.id, v, st.total_steps);
    std::fflush(stdout);
  }
}

/// Liveness: the server removes a worker it has not heard from for --worker-timeout.
template <class Self>
void heartbeat(Self* self) {
  auto& st = self->state;
  self->send(st.server, heartbeat_atom::value);
  double period = 1.0;
  if (st.joined() && st.cfg.worker_timeout_s > 0)
    period = std::min(period, st.cfg.worker_timeout_s / 4);
  else if (!st.joined())
    period = 0.25;
  self->delayed_send(
      self,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(period)),
      heartbeat_atom::value);
}

/// Registers with the server: as a new worker, or (`returning`) asking for its id back.
template <class Self>
void register_with_server(Self* self, bool returning) {
  auto& st = self->state;
  worker_hello hello{protocol_version, self, st.opts.host};
  hello.returning = returning;
  hello.previous_id = st.id;
  st.registered = true;
  self->send(st.server, register_atom::value, std::move(hello));
  progressed(self); // the welcome is owed from now on
}

template <class Self>
caf::behavior worker_behavior(Self* self, caf::actor server, worker_options opts) {
  // The behavior runs on the worker's own (detached) thread: this pins that thread. Never pin
  // a thread of CAF's scheduler.
  if (opts.detached && !opts.in_middleman)
    pin_thread_to_cpu_slot(opts.cpu_slot);
  self->state.server = server;
  self->state.opts = std::move(opts);
  self->set_default_handler(count_unexpected(self, "dsq worker"));
  self->monitor(server);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source != st.server)
      return; // a server this worker has left behind
    if (!st.opts.on_server_lost)
      return fail(self, "lost the connection to the server");
    // Keep everything and wait to be told where the server is now.
    st.orphaned = true;
    st.registered = false;
    st.opts.on_server_lost(self);
  });
  if (self->state.opts.self_register)
    register_with_server(self, false);
  heartbeat(self);
  return {
      [=](welcome_atom, welcome& w) {
        heard_from_server(self);
        if (self->state.joined() && !self->state.registered)
          return; // a copy of the welcome this worker already took
        try {
          adopt(self, w);
          maybe_push(self);
        } catch (const std::exception& e) {
          fail(self, e.what());
        }
      },
      [=](reshard_atom, const shard_assignment& shard) {
        heard_from_server(self);
        if (self->state.joined())
          self->state.engine->use_shard(shard);
      },
      [=](update_atom, model_update& u) {
        heard_from_server(self);
        if (!self->state.joined())
          return; // from before this worker's welcome
        try {
          receive_update(self, u);
        } catch (const std::exception& e) {
          fail(self, std::string{"corrupt update from the server: "} + e.what());
        }
      },
      [=](grant_atom, std::uint64_t version, std::uint64_t number) {
        heard_from_server(self);
        auto& st = self->state;
        if (!st.joined() || !st.policy->on_grant(version, number))
          return;                       // before the welcome, or a copy of a grant already taken
        acknowledged(self, number - 1); // granted again: the last push was taken
        progressed(self);
        maybe_push(self);
      },
      [=](resend_atom, std::uint64_t key) {
        heard_from_server(self);
        // The server answered a probe without having this push: it was lost on the way.
        auto& st = self->state;
        if (st.unacked && st.unacked_key == key) {
          self->send(st.server, *st.unacked);
          st.resent = true;
        }
      },
      [=](sent_atom, std::uint64_t latest) {
        heard_from_server(self);
        // Every update the server sent before this answer came before it: one up to `latest`
        // that is still missing (updates apply in order, so any gap shows in the version) was
        // lost. Ask for what is missing.
        auto& st = self->state;
        if (st.joined() && !st.orphaned && st.engine->version() < latest)
          self->send(st.server, status_atom::value, st.engine->version());
      },
      [=](ack_atom, std::uint64_t key) {
        heard_from_server(self);
        if (self->state.joined())
          acknowledged(self, key);
      },
      [=](resync_atom, welcome& w) {
        heard_from_server(self);
        // Too far behind for the server's ring: the full model, keeping δ⁽ⁱ⁾ and the sampler.
        auto& st = self->state;
        if (!st.joined() || w.worker_id != st.id || w.version <= st.engine->version())
          return;
        try {
          st.engine->reset_model(w.version, w.model, w.momentum);
          st.engine->use_shard(w.shard); // the same shard changes nothing
        } catch (const std::exception& e) {
          return fail(self, std::string{"bad resync from the server: "} + e.what());
        }
        st.updates = update_sequencer{w.version};
        if (!st.policy->async())
          acknowledged(self, w.version - 1);
        progressed(self);
        maybe_push(self);
      },
      [=](retry_atom) { on_retry(self); },
      [=](lost_again_atom) {
        if (self->state.orphaned)
          self->state.opts.on_server_lost(self);
      },
      [=](reconnect_atom, caf::actor new_server) {
        // The server is back (a new actor): register again, asking for this worker's id.
        auto& st = self->state;
        if (!new_server)
          return;
        if (new_server == st.server) {
          // CAF's middleman may answer a connect from its cache with the proxy of the server
          // that just died, until it has processed that death: ask again a little later.
          if (st.orphaned && st.opts.on_server_lost) {
            if (++st.stale_reconnects > 100)
              return fail(self, "lost the connection to the server (reconnecting gives back "
                                "the server that died)");
            self->delayed_send(self, std::chrono::milliseconds(100), lost_again_atom::value);
          }
          return;
        }
        st.stale_reconnects = 0;
        st.server = new_server;
        self->monitor(new_server);
        st.orphaned = false;
        register_with_server(self, st.joined());
      },
      [=](send_push_atom) {
        auto& st = self->state;
        if (!st.delayed)
          return;
        auto p = std::move(*st.delayed);
        st.delayed.reset();
        send_push(self, std::move(p));
        maybe_push(self);
      },
      [=](heartbeat_atom) { heartbeat(self); },
      [=](shutdown_atom, const farewell& f) {
        auto& st = self->state;
        if (f.may_rejoin && st.joined()) {
          // Removed for silence (hung, or cut off): awake again, join anew through the
          // elastic-join path, as a new worker with a zero residual.
          if (st.opts.verbose)
            fmt::print("worker {}: removed ({}); registering again\n", st.id,
                       log_safe(f.reason, log_text_chars));
          st.engine.reset();
          st.unacked.reset();
          st.delayed.reset();
          register_with_server(self, false);
          return;
        }
        if (f.error)
          fail(self, log_safe(f.reason, log_text_chars));
        else
          self->quit();
      },
      [=](reject_atom, const farewell& f) {
        if (f.error) {
          fail(self, "rejected by the server: " + log_safe(f.reason, log_text_chars));
        } else {
          fmt::print("worker: the server declined: {}\n", log_safe(f.reason, log_text_chars));
          self->quit();
        }
      },
      [=](leave_atom) {
        auto& st = self->state;
        if (!st.joined())
          return self->quit(); // nothing to announce: its down_msg tells the server
        self->send(st.server, leave_atom::value, st.id);
        // The server's farewell says the leave arrived: quitting at once could end the process
        // before the middleman sent it. Nothing else matters any more; give up after 2 s.
        self->set_down_handler([=](caf::down_msg&) { self->quit(); });
        self->delayed_send(self, std::chrono::seconds(2), leave_atom::value);
        // Updates, grants, acks: too late. Skipped, not dropped: dropping answers the sender
        // with an error message, which would end the server.
        self->set_default_handler(caf::skip);
        self->become(caf::behavior{
            [=](shutdown_atom, const farewell&) { self->quit(); },
            [=](leave_atom) { self->quit(); },
        });
      },
  };
}

} // namespace

std::vector<caf::actor> spawn_local_workers(caf::actor_system& sys, const caf::actor& server,
                                            const training_setup& setup, std::size_t n,
                                            bool detached,
                                            std::function<void(caf::actor)> on_server_lost) {
  std::vector<caf::actor> workers;
  for (std::size_t i = 0; i < n; ++i) {
    worker_options opts;
    opts.setup = setup;
    opts.self_register = false;
    opts.cpu_slot = static_cast<int>(i);
    opts.detached = detached;
    opts.on_server_lost = on_server_lost;
    workers.push_back(spawn_worker(sys, server, std::move(opts)));
    caf::anon_send(server, register_atom::value,
                   worker_hello{protocol_version, workers.back(), "local"});
  }
  return workers;
}

caf::actor spawn_worker(caf::actor_system& sys, caf::actor server, worker_options opts) {
  if (opts.in_middleman)
    return sys.middleman().spawn_broker(worker_behavior<worker_broker>, std::move(server),
                                        std::move(opts));
  if (opts.detached)
    return sys.spawn<caf::detached>(worker_behavior<worker_actor>, std::move(server),
                                    std::move(opts));
  return sys.spawn(worker_behavior<worker_actor>, std::move(server), std::move(opts));
}

} // namespace dsq
