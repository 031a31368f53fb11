#pragma once

// A link actor between one worker and the server that injects the fault plan in the message
// path (issue 9). The worker talks to the link as if it were the server, the server to the link
// as if it were the worker: the link forwards every message with its own identity as sender
// and rewrites a registration (worker_hello.worker) to itself, since the server ties a worker id
// to the actor that registered it. Messages from the worker go up, every other message down.
//
// What it does to a message depends on its first atom (net/PROTOCOL.md, "Fault injection"):
//   data (push, update, grant, heartbeat, probe,         every message fault of the plan: drop,
//         resend, sent, status, ack)                     duplicate, reorder (held until after
//                                                        the next message of that direction,
//                                                        or for at most its own delay plus
//                                                        max(10 ms, delay + jitter): a sync
//                                                        update, the last message of its
//                                                        step, is not held until a retry),
//                                                        delay, jitter, bandwidth
//   control (everything else)                            delay, jitter and bandwidth only
// Without jitter, messages of one direction leave in the order they came. Bandwidth makes the
// direction busy for bytes / rate per message, so queueing adds up.
//
// This is fault injection's CAF half, and so it lives with the actors; its CAF-free half (the
// plan, the fates of messages, the log, the injector, and what happens to each message and when:
// fault_link_core) is training/faults/.
//
// With --servers=K a worker has one link per shard (fault_link_options::shard); the worker faults
// below fire on its link to the leader (shard 0) only.
//
// Worker faults of its worker (the id comes from the welcome it forwards; before the welcome the
// link forwards untouched):
//   crash   at the first update of version >= STEP: kills the worker (exit_reason::kill) and
//           quits with the same reason, so the server sees the worker's connection drop; with
//           crash_exits_process the process exits at once (exit_injected_worker_crash)
//   hang    from the first update of version >= STEP: holds everything in both directions for
//           SECONDS (then releases it in order), or for good
//   corrupt damages the wire header and bytes of the first push of step >= STEP (seeded)
//   poison  the first push of step >= STEP decodes to NaN values
// The link monitors both ends and quits when one goes down, after delivering what it still
// holds for the other end, with the reason of the end that went down.

#include "training/faults/fault_injector.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>

#include <memory>

namespace dsq {

/// (fault_attach_atom, worker): the worker behind the link (sent once, before it registers).
using fault_attach_atom = caf::atom_constant<caf::atom("fl_attach")>;

/// How a link injects faults.
struct fault_link_options {
  /// The plan, log and one-time faults shared by every link of the process; never null.
  std::shared_ptr<fault_injector> injector;
  /// true (dsq worker): a crash fault exits the process with exit_injected_worker_crash after
  /// recording it; false (dsq local): it kills the worker actor.
  bool crash_exits_process = false;
  /// The server shard at the server's end (--servers=K): 0, the leader (or the only server), or
  /// a follower, whose link has message faults of its own seeded stream and no worker faults
  /// (fault_link_core).
  std::uint32_t shard = 0;
};

/// Spawns a link to `server`; counts it in the injector. Give it its worker with attach_worker()
/// before the worker sends anything that needs an answer (messages from any actor but the server
/// go up until then).
caf::actor spawn_fault_link(caf::actor_system& sys, caf::actor server, fault_link_options opts);

/// A worker's end toward follower shard `shard` (--servers=K): a new link to `follower` with
/// `worker` attached (`opts.shard` set to `shard`). Called by the worker when it reached the
/// follower (worker_options::shard_end), before it registers there.
caf::actor link_to_follower(caf::actor_system& sys, const caf::actor& follower, std::uint32_t shard,
                            const caf::actor& worker, fault_link_options opts);

/// Tells `link` which actor is its worker (anon_send: ordered before later anon_sends of the
/// calling thread to the link).
void attach_worker(const caf::actor& link, const caf::actor& worker);

/// Damages a push payload so that decoding fails: the wire header's magic byte and a few more
/// bytes are XORed with non-zero values drawn from `seed`. Deterministic in (bytes, seed).
void corrupt_payload(std::vector<std::uint8_t>& payload, std::uint64_t seed);

/// Re-encodes a push payload with every value NaN (the operator, dimension and sizes kept), so
/// that it decodes to a non-finite gradient. Leaves a payload that does not decode unchanged.
void poison_payload(std::vector<std::uint8_t>& payload);

} // namespace dsq
