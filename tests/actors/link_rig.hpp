#pragma once

// A fault_link driven by hand between two scoped actors that play its server and its worker
// (tests/actors: test_faults, test_scenarios).

#include "actor_test_support.hpp"
#include "actors/fault_link.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "training/faults/fault_injector.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace dsq::testing {

/// A fault link to `server` injecting from `injector`; its worker is attached by the caller.
inline caf::actor spawn_link(caf::actor_system& sys, caf::scoped_actor& server,
                             std::shared_ptr<fault_injector> injector) {
  fault_link_options opts;
  opts.injector = std::move(injector);
  return spawn_fault_link(sys, caf::actor_cast<caf::actor>(server), std::move(opts));
}

/// A link between two scoped actors: `server` and `worker` play the two ends. The link has
/// learnt its worker's id (0) from a welcome when the constructor returns.
struct link_rig {
  caf::scoped_actor server, worker;
  std::shared_ptr<fault_injector> injector;
  caf::actor link;

  link_rig(caf::actor_system& sys, const fault_plan& plan, const std::string& log = {})
      : server{sys}, worker{sys}, injector{std::make_shared<fault_injector>(plan, log)} {
    link = spawn_link(sys, server, injector);
    attach_worker(link, caf::actor_cast<caf::actor>(worker));
    welcome w;
    w.worker_id = 0;
    server->send(link, welcome_atom::value, w);
    worker->receive([](welcome_atom, const welcome&) {},
                    caf::after(std::chrono::seconds(10)) >>
                        [] { BOOST_FAIL("the welcome did not pass the link"); });
  }

  ~link_rig() { server->send_exit(link, caf::exit_reason::user_shutdown); }

  void push(std::uint64_t step, std::size_t bytes = 8) {
    worker->send(link, push_atom::value,
                 testing::make_push(0, step, 1.0f, 0, std::vector<std::uint8_t>(bytes, 7)));
  }
  void heartbeat() { worker->send(link, heartbeat_atom::value); }
  /// A control message up.
  void leave() { worker->send(link, leave_atom::value, std::uint32_t{0}); }

  /// What reaches the server end up to and including the leave: "push 3", "heartbeat", "leave".
  std::vector<std::string> received_up_to_leave() {
    std::vector<std::string> got;
    while (got.empty() || got.back() != "leave")
      server->receive(
          [&](push_atom, const gradient_push& p) {
            got.push_back("push " + std::to_string(p.step));
          },
          [&](heartbeat_atom) { got.push_back("heartbeat"); },
          [&](leave_atom, std::uint32_t) { got.push_back("leave"); },
          caf::after(std::chrono::seconds(10)) >>
              [&] { BOOST_FAIL("nothing reached the server for 10 s"); });
    return got;
  }
};

} // namespace dsq::testing
