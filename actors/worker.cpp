#include "actors/worker.hpp"
#include "actors/worker_perform.hpp"

#include "actors/unexpected_messages.hpp"
#include "base/os/cpu_affinity.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/shard/worker_shards.hpp"
#include "training/worker/worker_core.hpp"

#include <caf/all.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <variant>

namespace dsq {

namespace {

using namespace worker_detail;

/// Opens the connection to follower `c.shard`: its actor comes back as (shard_conn_atom, shard,
/// actor), from this process's followers at once, else from a thread that may block.
template <class Self>
void connect_follower(Self* self, const worker_shard_effect::connect& c) {
  auto& st = self->state;
  if (c.endpoint.empty()) {
    caf::actor follower;
    if (c.shard < st.opts.local_shards.size())
      follower = st.opts.local_shards[c.shard];
    self->send(self, shard_conn_atom::value, c.shard, follower);
    return;
  }
  if (!st.opts.connect_shard) {
    self->send(self, shard_conn_atom::value, c.shard, caf::actor{});
    return;
  }
  std::thread{[connect = st.opts.connect_shard, endpoint = c.endpoint, shard = c.shard,
               me = caf::actor{self}] {
    caf::actor follower;
    try {
      follower = connect(endpoint);
    } catch (const std::exception&) {
    }
    caf::anon_send(me, shard_conn_atom::value, shard, follower);
  }}.detach();
}

/// Carries out what the multiplexer asked for, in order.
template <class Self>
void act_sharded(Self* self, worker_shard_effects effects) {
  auto& st = self->state;
  for (auto& effect : effects) {
    if (auto* s = std::get_if<worker_shard_effect::send_to>(&effect)) {
      if (s->shard >= st.shards.size() || !st.shards[s->shard])
        continue; // not connected (yet, or any more): the multiplexer hears of it
      st.to = st.shards[s->shard];
      std::visit([self](auto& fx) { perform(self, fx); }, s->effect);
    } else if (auto* c = std::get_if<worker_shard_effect::connect>(&effect)) {
      connect_follower(self, *c);
    } else {
      st.to = st.server;
      std::visit([self](auto& fx) { perform(self, fx); },
                 std::get<worker_shard_effect::local>(effect).effect);
    }
  }
  st.to = st.server;
}

/// Computes and pushes a gradient if one is due, timing the computation: a straggler's delay
/// and the round trip depend on when it started and ended.
template <class Self>
void compute_if_due(Self* self) {
  auto& core = *self->state.core;
  if (!core.gradient_due())
    return;
  const auto started = clock_type::now();
  gradient_push push;
  try {
    push = core.compute();
  } catch (const std::exception& e) {
    // The model returned what cannot be trained on (worker_engine::compute): the worker stops
    // with the engine's one-line error, and the run with it.
    if (auto& mux = self->state.mux)
      act_sharded(self, mux->route(core.compute_failed(e.what()), clock_type::now()));
    else
      act(self, core.compute_failed(e.what()));
    return;
  }
  if (auto& mux = self->state.mux)
    act_sharded(self, mux->push(std::move(push), started, clock_type::now()));
  else
    act(self, core.push(std::move(push), started, clock_type::now()));
}

/// Hands an event to the core with the time it happened, carries out what the core asks, then
/// computes if a gradient became due.
template <class Self, class Event>
void handle(Self* self, Event&& event) {
  if (auto& mux = self->state.mux)
    act_sharded(self, mux->route(event(*self->state.core, clock_type::now()), clock_type::now()));
  else
    act(self, event(*self->state.core, clock_type::now()));
  compute_if_due(self);
}

/// The shard the current message comes from (0: the leader), if it is one of the run's.
template <class Self>
std::optional<std::uint32_t> sender_shard(Self* self) {
  auto& st = self->state;
  auto sender = self->current_sender();
  if (!sender)
    return std::nullopt;
  if (sender == st.server.address())
    return 0;
  if (auto it = st.shard_of.find(caf::actor_cast<caf::actor_addr>(sender)); it != st.shard_of.end())
    return it->second;
  return std::nullopt;
}

/// In a sharded run, hands a message of shard `shard` to the multiplexer (and returns true);
/// `event` is its handler of that message.
template <class Self, class Event>
bool handle_sharded(Self* self, Event&& event) {
  auto& st = self->state;
  if (!st.mux)
    return false;
  if (auto shard = sender_shard(self)) {
    act_sharded(self, event(*st.mux, *shard, clock_type::now()));
    compute_if_due(self);
  }
  return true; // from no shard of this run: ignored
}

using time_point = worker_core::time_point;

/// Makes the core, watches the server, and lets the core start (register, heartbeat).
template <class Self>
void start_worker(Self* self, caf::actor server, worker_options opts) {
  // The behavior runs on the worker's own (detached) thread: this pins that thread. Never pin
  // a thread of CAF's scheduler.
  if (opts.detached && !opts.in_middleman)
    pin_thread_to_cpu_slot(opts.cpu_slot);
  auto& st = self->state;
  st.server = server;
  st.opts = std::move(opts);
  self->set_default_handler(count_unexpected(self, "dsq worker"));
  const bool reconnects = static_cast<bool>(st.opts.on_server_lost);
  st.core.emplace(worker_settings{std::move(st.opts.setup), st.opts.verbose, reconnects,
                                  st.opts.server_timeout, st.opts.reconnect_timeout,
                                  st.opts.data_dir, st.opts.source, st.opts.message_limit},
                  clock_type::now());
  self->monitor(server);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    if (s.mux) { // the leader's loss or a follower's: the multiplexer's to judge
      std::optional<std::uint32_t> shard;
      if (dm.source == s.server)
        shard = 0;
      else if (auto it = s.shard_of.find(dm.source); it != s.shard_of.end())
        shard = it->second;
      if (shard) {
        act_sharded(self, s.mux->on_shard_lost(*shard, clock_type::now()));
        compute_if_due(self);
      }
      return;
    }
    if (dm.source == s.server) // else a server this worker has left behind
      handle(self, [](worker_core& core, time_point) { return core.on_server_lost(); });
  });
  act(self, st.core->start(st.opts.self_register, clock_type::now()));
}

/// Each message of the server, and each timer, is an event of the core.
template <class Self>
caf::behavior worker_behavior(Self* self, caf::actor server, worker_options opts) {
  start_worker(self, std::move(server), std::move(opts));
  return {
      [=](welcome_atom, welcome& w) {
        auto& st = self->state;
        const bool leader = self->current_sender() == st.server.address();
        if (!st.mux && leader && worker_shards::sharded(w)) {
          // The leader names K > 1 shards: from now on the multiplexer sits between the core
          // and the K connections.
          st.mux = std::make_unique<worker_shards>(*st.core, st.opts.server_timeout);
          st.shards.assign(w.shards.count(), caf::actor{});
          st.shards[0] = st.server;
        }
        if (st.mux) {
          auto shard = sender_shard(self);
          if (!shard)
            return;
          if (*shard == 0) {
            if (st.opts.on_welcome) // the whole model's size bounds the messages
              st.opts.on_welcome(w.shards.ranges.empty() ? w.model.size()
                                                         : w.shards.ranges.back().end);
            if (st.opts.pin_process && st.core->takes_welcome())
              pin_process_to_cpu_slot(static_cast<int>(w.worker_id) + 1);
          }
          if (st.mux->welcome_completes(*shard, w) && st.core->starts_up_on_welcome())
            self->send(st.server, starting_atom::value);
          act_sharded(self, st.mux->on_welcome(*shard, w, clock_type::now()));
          compute_if_due(self);
          return;
        }
        if (st.opts.on_welcome)
          st.opts.on_welcome(w.model.size());
        if (st.opts.pin_process && st.core->takes_welcome())
          pin_process_to_cpu_slot(static_cast<int>(w.worker_id) + 1);
        // Sent before the load, which holds this actor (and its heartbeats) up.
        if (st.core->starts_up_on_welcome())
          self->send(st.server, starting_atom::value);
        handle(self, [&](worker_core& core, time_point) { return core.on_welcome(w); });
      },
      [=](shard_conn_atom, std::uint32_t shard, caf::actor follower) {
        auto& st = self->state;
        if (self->current_sender() && self->current_sender()->node() != self->node())
          return; // only this process's connecting threads say so
        if (!st.mux || shard == 0 || shard >= st.shards.size())
          return;
        if (!follower) {
          act_sharded(self, st.mux->on_shard_lost(shard, clock_type::now()));
          return compute_if_due(self);
        }
        if (st.opts.shard_end) // a fault link between this worker and the follower
          follower = st.opts.shard_end(follower, shard, caf::actor{self});
        st.shards[shard] = follower;
        st.shard_of[follower.address()] = shard;
        self->monitor(follower);
        act_sharded(self, st.mux->on_shard_connected(shard, clock_type::now()));
        compute_if_due(self);
      },
      [=](chunk_atom, const data_chunk& c) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_data_chunk(k, c, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point now) { return core.on_data_chunk(c, now); });
      },
      [=](reshard_atom, const shard_assignment& shard) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_reshard(k, shard, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point) { return core.on_reshard(shard); });
      },
      [=](update_atom, model_update& u) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_update(k, u, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point now) { return core.on_update(u, now); });
      },
      [=](grant_atom, std::uint64_t version, std::uint64_t number) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_grant(k, version, number, now);
            }))
          return;
        handle(self, [=](worker_core& core, time_point now) {
          return core.on_grant(version, number, now);
        });
      },
      [=](resend_atom, std::uint64_t key) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_resend(k, key, now);
            }))
          return;
        handle(self, [=](worker_core& core, time_point) { return core.on_resend(key); });
      },
      [=](sent_atom, std::uint64_t latest) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_sent(k, latest, now);
            }))
          return;
        handle(self, [=](worker_core& core, time_point) { return core.on_sent(latest); });
      },
      [=](ack_atom, std::uint64_t key) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_ack(k, key, now);
            }))
          return;
        handle(self, [=](worker_core& core, time_point now) { return core.on_ack(key, now); });
      },
      [=](resync_atom, welcome& w) {
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_resync(k, w, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point now) { return core.on_resync(w, now); });
      },
      // A farewell's reason comes from the network and ends up in a log line: capped and
      // made printable first (base/log_text.hpp).
      [=](shutdown_atom, farewell f) {
        f.reason = log_safe(f.reason, log_text_chars);
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_shutdown(k, f, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point now) { return core.on_shutdown(f, now); });
      },
      [=](reject_atom, farewell f) {
        f.reason = log_safe(f.reason, log_text_chars);
        if (handle_sharded(self, [&](worker_shards& m, std::uint32_t k, time_point now) {
              return m.on_reject(k, f, now);
            }))
          return;
        handle(self, [&](worker_core& core, time_point) { return core.on_reject(f); });
      },
      [=](reconnect_atom, caf::actor new_server) {
        // The server is back (a new actor): register again, asking for this worker's id. CAF's
        // middleman may answer a connect from its cache with the proxy of the server that just
        // died, until it has processed that death.
        auto& st = self->state;
        if (!new_server)
          return;
        if (new_server == st.server)
          return handle(self,
                        [](worker_core& core, time_point) { return core.on_stale_reconnect(); });
        st.server = new_server;
        self->monitor(new_server);
        handle(self, [](worker_core& core, time_point now) { return core.on_reconnected(now); });
      },
      [=](leave_atom) {
        handle(self, [](worker_core& core, time_point) { return core.on_leave(); });
      },
      [=](retry_atom) {
        if (auto& mux = self->state.mux) {
          act_sharded(self, mux->on_retry_timer(clock_type::now()));
          return compute_if_due(self);
        }
        handle(self, [](worker_core& core, time_point now) { return core.on_retry_timer(now); });
      },
      [=](send_push_atom) {
        handle(self, [](worker_core& core, time_point now) { return core.on_straggler_due(now); });
      },
      [=](heartbeat_atom) {
        handle(self, [](worker_core& core, time_point) { return core.on_heartbeat_timer(); });
      },
      [=](lost_again_atom) {
        handle(self, [](worker_core& core, time_point) { return core.on_reconnect_timer(); });
      },
  };
}

} // namespace

std::vector<caf::actor> spawn_local_workers(caf::actor_system& sys, const caf::actor& server,
                                            const training_setup& setup, std::size_t n,
                                            bool detached,
                                            std::function<void(caf::actor)> on_server_lost,
                                            std::vector<caf::actor> local_shards) {
  std::vector<caf::actor> workers;
  for (std::size_t i = 0; i < n; ++i) {
    worker_options opts;
    opts.setup = setup;
    opts.self_register = false;
    opts.cpu_slot = static_cast<int>(i);
    opts.detached = detached;
    opts.on_server_lost = on_server_lost;
    opts.local_shards = local_shards;
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
