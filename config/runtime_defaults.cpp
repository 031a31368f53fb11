#include "config/runtime_defaults.hpp"

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
//  - scheduler.policy=sharing: CAF's work-stealing threads poll for work after every job (100
//    tries, then 500 more with 50 us sleeps, ~25 ms in all) before they block. A step wakes
//    them every millisecond or so, so they never block: on 2 cores the polling takes the CPU
//    from the gradients and from the threads that carry the messages. Work sharing blocks on a
//    condition variable at once.
//  - scheduler.max-threads=2: dsq's busy actors are detached (threads of their own); the
//    scheduler only runs CAF's helpers, and idle threads on a condition variable cost nothing.
//  - middleman.workers=0: the middleman's thread deserializes an arriving message and hands
//    it to its actor itself, instead of passing it to a scheduler thread first: one thread
//    hand-off (and one wake-up) fewer per message, for messages that take microseconds to
//    deserialize.
std::vector<runtime_setting> chosen(runtime_role role) {
  std::vector<runtime_setting> result{
      {"scheduler.policy", caf::config_value{caf::atom("sharing")}},
      {"scheduler.max-threads", caf::config_value{caf::config_value::integer{2}}},
  };
  if (role != runtime_role::local)
    result.push_back({"middleman.workers", caf::config_value{caf::config_value::integer{0}}});
  return result;
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
  namespace d = caf::defaults;
  const std::vector<runtime_setting> defaults{
      {"scheduler.policy", caf::config_value{d::scheduler::policy}},
      {"scheduler.max-threads",
       caf::config_value{static_cast<caf::config_value::integer>(d::scheduler::max_threads)}},
      {"middleman.workers",
       caf::config_value{static_cast<caf::config_value::integer>(d::middleman::workers)}},
  };
  std::vector<std::string> args;
  for (const auto& s : defaults)
    args.push_back(as_argument(s));
  return args;
}

} // namespace dsq
