#pragma once

#include <caf/atom.hpp>

#include <array>

namespace dsq {

// The verbs of the protocol (see net/PROTOCOL.md). CAF 0.17 atoms: at most 10 characters.
using register_atom = caf::atom_constant<caf::atom("register")>;
using welcome_atom = caf::atom_constant<caf::atom("welcome")>;
using reject_atom = caf::atom_constant<caf::atom("reject")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using update_atom = caf::atom_constant<caf::atom("update")>;
using grant_atom = caf::atom_constant<caf::atom("grant")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using reshard_atom = caf::atom_constant<caf::atom("reshard")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
// Recovery of lost messages and of a lost server (net/PROTOCOL.md, "Faults").
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using resend_atom = caf::atom_constant<caf::atom("resend")>;
using sent_atom = caf::atom_constant<caf::atom("sent")>;
using resync_atom = caf::atom_constant<caf::atom("resync")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

/// Atoms that only a process's own actors send one another: signals (stop), timers (the
/// server's tick, the worker's retry), hand-offs between an actor and its helpers. A message
/// from the network that starts with one is refused by dsq's connections (net/transport/basp_screen.hpp)
/// and dropped by the server (actors/local_exits_only.hpp): 200,000 ticks from a stranger
/// would each start a timer of their own. An actor that adds such an atom adds it here.
inline constexpr std::array<caf::atom_value, 15> local_only_atoms{
    caf::atom("stop"),       caf::atom("reconnect"),  caf::atom("eval"),
    caf::atom("tick"),       caf::atom("goodbye"),    caf::atom("lost"), // parameter_server.cpp
    caf::atom("send_push"),  caf::atom("retry"),      caf::atom("lost_again"), // worker.cpp
    caf::atom("srv_lost"),   caf::atom("fl_rejoin"),                           // local_run.cpp
    caf::atom("fl_release"), caf::atom("fl_hangend"), caf::atom("fl_holdcap"), // fault_link
    caf::atom("fl_attach")};

/// True if `x` is one of local_only_atoms.
constexpr bool is_local_only(caf::atom_value x) {
  for (auto local : local_only_atoms)
    if (local == x)
      return true;
  return false;
}

} // namespace dsq
