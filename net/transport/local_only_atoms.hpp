#pragma once

// What never comes from the network: the atoms that only a process's own actors send one
// another. Part of the transport's trust screen (basp_screen.hpp), which refuses a message that
// starts with one; the actors drop them from other processes too (actors/local_exits_only.hpp).

#include <caf/atom.hpp>

#include <array>

namespace dsq {

/// Atoms that only a process's own actors send one another: signals (stop), timers (the
/// server's tick, the worker's retry), hand-offs between an actor and its helpers. A message
/// from the network that starts with one is refused by dsq's connections (basp_screen.hpp)
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
