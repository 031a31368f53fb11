#include "actors/run/command_support.hpp"

#include "training/faults/fault_injector.hpp"

#include <caf/all.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include <chrono>

namespace dsq {

void say(const run_context& ctx, const std::string& line) {
  if (ctx.console.line)
    ctx.console.line(line);
}

void note(const run_context& ctx, const std::string& line) {
  if (ctx.console.note)
    ctx.console.note(line);
}

int fail(const run_context& ctx, const std::string& message) {
  if (ctx.console.error)
    ctx.console.error(message);
  return 1;
}

bool verbose(const run_config& cfg, const run_context& ctx) {
  return !cfg.quiet && static_cast<bool>(ctx.console.line);
}

std::string describe(caf::actor_system& sys, const caf::error& err) {
  const auto& context = err.context();
  if (err.category() == caf::atom("system") && context.size() == 1 &&
      context.match_element<std::string>(0))
    return context.get_as<std::string>(0);
  return sys.render(err);
}

caf::error wait_for(caf::actor_system& sys, const caf::actor& target, caf::message on_stop,
                    const run_context& ctx) {
  caf::scoped_actor self{sys};
  self->monitor(target);
  caf::error reason;
  bool done = false;
  unsigned stops_sent = 0;
  while (!done) {
    self->receive(
        [&](caf::down_msg& dm) {
          reason = dm.reason;
          done = true;
        },
        caf::after(std::chrono::milliseconds(100)) >>
            [&] {
              if (ctx.stops == nullptr)
                return;
              for (const auto stops = ctx.stops->load(); stops_sent < stops; ++stops_sent)
                self->send(target, on_stop);
            });
  }
  return reason;
}

std::function<bool(std::uint64_t)> injected_crash_hook(std::shared_ptr<fault_injector> faults,
                                                       std::string who, std::string where) {
  return [faults = std::move(faults), who = std::move(who),
          where = std::move(where)](std::uint64_t version) {
    if (!faults->take_server_crash(version))
      return false;
    faults->record(version, fault_kind::server_crash, where);
    try {
      faults->sync();
    } catch (const std::exception& e) {
      fmt::print(stderr, "dsq: error: {}\n", e.what());
    }
    fmt::print(stderr, "{}: injected crash (--faults.server-crash) at step {}: exit {}\n", who,
               version, exit_injected_server_crash);
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(exit_injected_server_crash);
    return true;
  };
}

} // namespace dsq
