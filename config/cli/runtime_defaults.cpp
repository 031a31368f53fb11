#include "config/cli/runtime_defaults.hpp"

#include <caf/defaults.hpp>
#include <caf/settings.hpp>

namespace dsq {

namespace {

/// One CAF setting: its key and the value dsq chooses.
struct runtime_setting {
  const char* key;
  caf::config_value value;
};

// The figures behind each choice are in docs/network.md ("Runtime defaults").
//  - middleman.workers=0 (server, worker): the middleman's thread deserializes an arriving
//    message and hands it to its actor itself. With CAF's 1, every message first goes to a
//    scheduler thread as a job: one more thread hand-off per message, and each job restarts the
//    work-stealing scheduler's polling (100 tries, then 500 with 50 us sleeps, 25-35 ms in all),
//    so with a step every millisecond or so its 4 threads per process never sleep and take the
//    2 cores from the gradients.
//  - scheduler.policy=sharing (server, worker): with the actors in the middleman's thread (below)
//    the scheduler has no jobs while training runs, yet CAF's work-stealing threads still wake
//    every 10 ms to look for one: 400 wake-ups a second per process. Sharing's threads block
//    until a job comes. Wake-ups per step halve, waiting processes use 0.1-0.2 % of a core
//    instead of 1 %, and the 4-process step of the tiny model is 1.08-1.27x faster. (With detached
//    actors sharing had made the 1M-parameter MLP 1.5-3x slower; as brokers it is not.)
//  - Not chosen: fewer scheduler threads, other polling settings.
//  - dsq local: CAF's settings; no change measured a clear gain there.
//  - Not a setting but code: dsq server and dsq worker spawn their actor in the middleman's
//    thread (server_options / worker_options::in_middleman), which saves the thread hand-offs
//    that remain with middleman.workers=0; and their plain TCP connections send at once and
//    read ahead (net/transport/eager_tcp.hpp, --tcp=caf for CAF's own), which saves system calls.
std::vector<runtime_setting> chosen(runtime_role role) {
  if (role == runtime_role::local)
    return {};
  return {{"middleman.workers", caf::config_value{caf::config_value::integer{0}}},
          {"scheduler.policy", caf::config_value{caf::atom("sharing")}}};
}

std::string as_argument(const runtime_setting& s) {
  std::string text;
  if (auto atom = caf::get_if<caf::atom_value>(&s.value))
    text = caf::to_string(*atom);
  else
    text = caf::to_string(s.value);
  return std::string{"--"} + s.key + "=" + text;
}

} // namespace

runtime_role role_of_command(const std::string& command) {
  if (command == "server")
    return runtime_role::server;
  if (command == "worker")
    return runtime_role::worker;
  return runtime_role::local;
}

void apply_runtime_defaults(caf::actor_system_config& cfg, runtime_role role) {
  for (const auto& s : chosen(role))
    if (caf::get_if(&cfg.content, s.key) == nullptr) // absent: the user did not set it
      cfg.set(s.key, s.value);
}

std::vector<std::string> runtime_default_arguments(runtime_role role) {
  std::vector<std::string> args;
  for (const auto& s : chosen(role))
    args.push_back(as_argument(s));
  return args;
}

std::vector<std::string> caf_default_arguments() {
  const std::vector<runtime_setting> defaults{
      {"middleman.workers", caf::config_value{static_cast<caf::config_value::integer>(
                                caf::defaults::middleman::workers)}},
      {"scheduler.policy", caf::config_value{caf::defaults::scheduler::policy}},
  };
  std::vector<std::string> args;
  for (const auto& s : defaults)
    args.push_back(as_argument(s));
  return args;
}

} // namespace dsq
