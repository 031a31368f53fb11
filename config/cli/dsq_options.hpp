#pragma once

#include "config/fault_options.hpp"
#include "config/run_config.hpp"

#include <caf/actor_system_config.hpp>

#include <string>
#include <vector>

namespace dsq {

/// CAF's configuration with the run's options bound to a run_config. Options come from the
/// command line (`--key=value`) and from an INI file given with `--config=FILE`; the command
/// line wins. Unlike CAF's own INI reader, unknown keys and bad values in the file are errors.
class dsq_options : public caf::actor_system_config {
public:
  dsq_options();

  run_config run;
  /// The `faults` group and --fault-log, as given (training/faults/fault_plan.hpp checks them).
  fault_options faults;

  /// The options of the `global` group with their descriptions, for --help.
  std::string options_help() const;
};

/// What parse_options found.
struct parse_result {
  bool ok = false;
  bool help = false;    ///< --help was asked for: print help, exit 0
  bool printed = false; ///< CAF already printed what was asked for (--dump-config)
  std::string error;    ///< one line that names the problem, when !ok
};

/// Parses `args` (the command line without program name and subcommand) into `opts`.
/// `--config=FILE` (or `--config-file=FILE`) names an INI file whose `[global]` section holds
/// the same keys as the command line; other sections are CAF's own (e.g. `[scheduler]`).
/// Never reads caf-application.ini implicitly. Validates the run configuration.
parse_result parse_options(const std::vector<std::string>& args, dsq_options& opts);

/// Turns an INI text into `--key=value` arguments, so that CAF's command-line parser checks
/// every key and value. Throws config_error with the line number on a malformed line.
std::vector<std::string> ini_to_arguments(const std::string& text, const std::string& origin);

} // namespace dsq
