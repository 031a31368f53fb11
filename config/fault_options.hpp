#pragma once

// The options of the `faults` group (`--faults.drop=0.05`, or `drop=0.05` under `[faults]` in an
// INI file) and `--fault-log`, kept as given. training/faults/fault_plan.hpp turns them into a
// checked fault plan. Kept apart from run_config because faults are local to the process that
// injects them: nothing here is sent to workers, and a run without faults is the same run as
// before.

#include <cstdint>
#include <string>

namespace dsq {

/// The raw `faults.*` options; the defaults inject nothing.
struct fault_options {
  // -- message faults, on the links named by `links` ------------------------------------------
  double drop = 0;       ///< probability that a message is lost
  double duplicate = 0;  ///< probability that a message is delivered twice
  double reorder = 0;    ///< probability that a message is held back until after the next one
  double delay_ms = 0;   ///< fixed delay of every message
  double jitter_ms = 0;  ///< extra delay drawn uniformly from [0, jitter)
  std::string bandwidth; ///< link rate, e.g. "100Mbit", "10MB" (per second); empty: unlimited
  std::string links;     ///< worker ids and up/down, e.g. "1,2,up"; empty: every link both ways
  // -- worker and server faults ---------------------------------------------------------------
  std::string crash;        ///< "ID@STEP[,ID@STEP...]"
  std::string hang;         ///< "ID@STEP[:SECONDS][,...]"
  std::string rejoin;       ///< "ID@STEP[,...]"
  std::string corrupt;      ///< "ID@STEP[,...]"
  std::string poison;       ///< "ID@STEP[,...]"
  std::string server_crash; ///< "STEP"; empty: none
  std::uint64_t seed = 1;   ///< seed of every random fault decision
  // -- output ---------------------------------------------------------------------------------
  std::string log; ///< --fault-log: CSV file with one row per injected fault
};

} // namespace dsq
