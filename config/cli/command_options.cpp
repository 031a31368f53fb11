#include "config/cli/command_options.hpp"

namespace dsq {

std::string_view command_name(dsq_command c) {
  switch (c) {
  case dsq_command::local:
    return "local";
  case dsq_command::server:
    return "server";
  case dsq_command::worker:
    return "worker";
  }
  return "?";
}

std::string command_list(command_set commands) {
  std::string text;
  int left = 0;
  for (auto c : {dsq_command::local, dsq_command::server, dsq_command::worker})
    left += uses(commands, c);
  for (auto c : {dsq_command::local, dsq_command::server, dsq_command::worker}) {
    if (!uses(commands, c))
      continue;
    if (!text.empty())
      text += left == 1 ? " and " : ", ";
    text += "dsq " + std::string{command_name(c)};
    --left;
  }
  return text;
}

std::string_view group_heading(option_group g, dsq_command command) {
  switch (g) {
  case option_group::run:
    return "the run";
  case option_group::model_and_data:
    return "model and data";
  case option_group::compression:
    return "method and compression";
  case option_group::mode:
    return "sync or async, stragglers";
  case option_group::server:
    return command == dsq_command::local ? "the parameter server" : "server";
  case option_group::worker:
    return "worker";
  case option_group::process:
    return "this process";
  case option_group::tls:
    return "TLS (all three together, or none)";
  case option_group::faults:
    switch (command) {
    case dsq_command::local:
      return "faults to inject (net/PROTOCOL.md; ready scenarios in config/faults/)";
    case dsq_command::server:
      return "faults to inject (the workers inject message and worker faults on their links)";
    case dsq_command::worker:
      return "faults to inject on this worker's link to the server (net/PROTOCOL.md)";
    }
    break;
  case option_group::output:
    return "output";
  }
  return "";
}

} // namespace dsq
