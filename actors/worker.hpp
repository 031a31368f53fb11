#pragma once

// The worker: one replica of the model, one shard of the data, one uplink pass.
//
// Protocol (see net/PROTOCOL.md for the whole picture):
//   on start        -> server   (register_atom, worker_hello)
//   <- server       (welcome_atom, welcome)          adopt id, config, x_version, shard
//   <- server       (reshard_atom, shard_assignment)  sample from the new shard from now on
//   <- server       (update_atom, model_update)       apply updates strictly in version
//                                                     order (early ones are buffered, old
//                                                     ones ignored)
//   <- server       (grant_atom, version, number)     async: one gradient on x_(>= version);
//                                                     a copy (same number) is ignored
//   -> server       (push_atom, gradient_push)        c⁽ⁱ⁾ = C[g⁽ⁱ⁾ + δ⁽ⁱ⁾] at x_step, when the
//                                                     push policy says so: sync after the
//                                                     welcome and every update but the last;
//                                                     async with each grant. A straggler
//                                                     (--slow-worker) sends it (FACTOR − 1)
//                                                     compute times late, applying updates
//                                                     meanwhile
//   -> server       (heartbeat_atom)                  every min(1 s, --worker-timeout / 4)
//   -> server       (starting_atom)                   on the welcome, before loading the data
//   <- server       (reject_atom | shutdown_atom, farewell)  quit (error if farewell.error)
//   <- anyone       (leave_atom)                      tell the server, then quit on its farewell
//                                                     (or its loss, or after 2 s)
//   server down                                       quit with an error (or wait for
//                                                     (reconnect_atom, server): on_server_lost)
//   server silent for server_timeout while waiting    quit with an error (reconnecting:
//                                                     after reconnect_timeout more)
//
// Gradients are computed inside the handler: spawn workers detached (the default) so that they
// do not occupy CAF's scheduler threads (which the middleman and the server need), or, alone
// in their process, in the middleman's thread (worker_options::in_middleman).

#include "config/data_origin.hpp"
#include "training/training_setup.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

struct worker_options {
  /// Data and model when they are already in the process (dsq local); empty: the worker
  /// loads them from the configuration it receives in its welcome.
  training_setup setup;
  std::string host = "local";
  bool verbose = false; ///< print progress of its own (dsq worker)
  /// Where those lines go, each without its newline; empty: stdout.
  std::function<void(std::string_view line)> on_line;
  /// false: whoever spawns the worker registers it (see spawn_local_workers), so that the
  /// server monitors it even if it dies before it runs.
  bool self_register = true;
  /// >= 0: the worker's thread runs only on the cpu_slot-th CPU (modulo their number) of those
  /// the process may use. spawn_local_workers sets it (see there); -1: the OS places the thread.
  int cpu_slot = -1;
  /// false: the worker runs on CAF's scheduler (e.g. under the test coordinator).
  bool detached = true;
  /// true (dsq worker): the worker is a broker and runs in the middleman's thread, which hands
  /// it the server's messages and takes its pushes without a thread wake-up (docs/network.md);
  /// the process has nothing else to do while it computes. Needs the middleman; wins over
  /// `detached`.
  bool in_middleman = false;
  /// Empty: a worker that loses its server fails. Else the worker keeps its state, calls this
  /// with itself and waits for (reconnect_atom, server), then registers again asking for its
  /// identity back (net/PROTOCOL.md, "A lost server").
  std::function<void(caf::actor worker)> on_server_lost;
  /// true (dsq worker --pin-cpus): once its id is known, every thread of the process runs on
  /// CPU slot id + 1 (base/os/cpu_affinity.hpp; the server takes slot 0).
  bool pin_process = false;
  /// dsq worker --server-timeout: a worker that waits for the server (an update, a grant, an
  /// answer to its push, its welcome) and whose probe goes unanswered this long fails; zero:
  /// it waits forever. Only a server alive behind an open connection can be silent: one that
  /// is gone sends a down message.
  std::chrono::steady_clock::duration server_timeout{};
  /// dsq worker --reconnect-timeout: with on_server_lost, a server silent for server_timeout
  /// is probed this much longer before the worker fails (a stopped server may resume).
  std::chrono::steady_clock::duration reconnect_timeout{};
  /// dsq worker --data-dir: where this host keeps the run's data.
  std::string data_dir;
  /// dsq worker --data: its own files, the server's copy, or its own files if they match.
  data_origin source = data_origin::automatic;
  /// dsq worker --max-message-bytes (0: none): chunks of the server's data stay below it.
  std::uint64_t message_limit = 0;
  /// Called with the number of parameters of the model each welcome states, before the worker
  /// takes it (dsq worker: bounds the messages it accepts from then on by that model).
  std::function<void(std::uint64_t parameters)> on_welcome;
  /// Sharded runs (--servers=K > 1): the followers' actors by shard (index 0 unused) when they
  /// are in this process (dsq local); a welcome's empty endpoint names them.
  std::vector<caf::actor> local_shards;
  /// Sharded runs across processes (dsq worker): opens the connection to the follower at
  /// `endpoint` ("host:port", TLS as for the leader) and returns its actor, or an invalid
  /// handle (after saying why on its own) when it cannot be reached. Called on a thread of its
  /// own: it may block.
  std::function<caf::actor(const std::string& endpoint)> connect_shard;
  /// Sharded runs with a fault plan: what this worker talks to for follower `shard` once it
  /// reached it: a fault link to `follower` with `worker` attached, or `follower` itself.
  /// Empty: the follower itself.
  std::function<caf::actor(const caf::actor& follower, std::uint32_t shard,
                           const caf::actor& worker)>
      shard_end;
};

/// Spawns a detached worker that registers with `server` right away (if opts.self_register).
caf::actor spawn_worker(caf::actor_system& sys, caf::actor server, worker_options opts);

/// Spawns `n` workers sharing `setup` and registers each with `server` on its behalf, in
/// order: the server knows (and monitors) every one of them, whatever happens to it next.
/// Worker i is pinned to CPU i modulo the CPUs the process may use, so that workers spread
/// evenly over the cores (see base/os/cpu_affinity.hpp for why).
/// `on_server_lost`: see worker_options (empty: a worker that loses the server fails).
std::vector<caf::actor> spawn_local_workers(caf::actor_system& sys, const caf::actor& server,
                                            const training_setup& setup, std::size_t n,
                                            bool detached = true,
                                            std::function<void(caf::actor)> on_server_lost = {},
                                            std::vector<caf::actor> local_shards = {});

} // namespace dsq
