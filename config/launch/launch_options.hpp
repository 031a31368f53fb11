#pragma once

// The options of `dsq launch` itself (config/cli/dsq_options.cpp binds them to the command
// line): where the processes run and how they are started and kept. The run's options are not
// here: the launcher hands them to `dsq server` and `dsq worker` as given.

#include <cstdint>
#include <string>

namespace dsq {

/// What `dsq launch` is asked to do besides the run itself.
struct launch_options {
  std::string hostfile;                      ///< MPI-style host file; empty: all on this machine
  std::uint64_t servers = 1;                 ///< parameter-server processes (shards) to start
  std::string launch_command = "ssh {host}"; ///< how a process starts on another host
  std::string dsq_binary;                    ///< the dsq run on every host; empty: this one
  bool oversubscribe = false;                ///< more workers than slots: fill the hosts again
  std::uint64_t restart_workers = 0;         ///< restarts of failed workers, over the whole run
  std::uint64_t restart_server = 0;          ///< restarts of a failed server with --resume
  std::string tls_dir;                       ///< scripts/make-certs.sh's directory, on every host
  std::uint64_t start_timeout_s = 60;        ///< seconds for the server to say its port
};

} // namespace dsq
