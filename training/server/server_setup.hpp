#pragma once

// What a parameter server is given to run: the configuration, what it trains, where its record
// goes, where it resumes from and the hooks of fault injection. Plain data; the actor adds what
// only CAF knows (actors/parameter_server.hpp, server_options).

#include "config/run_config.hpp"
#include "training/checkpoint.hpp"
#include "training/run_log.hpp"
#include "training/server/run_outcome.hpp"
#include "training/shard/key_ranges.hpp"
#include "training/training_setup.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsq {

/// The parameter server's options that its core (server_core.hpp) reads.
struct server_setup {
  run_config cfg;
  training_setup setup;
  /// true for `dsq server`: when every worker is gone, wait for new ones instead of failing.
  bool elastic = false;
  bool verbose = true;
  /// true (dsq server): at the end, wait until every worker told to go has closed its
  /// connection (at most 2 s) before quitting; the process's exit would drop farewells still in
  /// the middleman's buffers, and their workers would try to reconnect.
  bool await_goodbyes = false;
  /// The run's record, with --metrics already open (make_server_options); none: no file.
  std::shared_ptr<run_log> log;
  /// The rows the record keeps in memory, hence run_outcome::rows.
  row_memory rows = row_memory::last;
  /// Where to start from (--resume), already checked to fit the model.
  std::optional<checkpoint> resume_from;
  /// Filled in just before the server quits.
  std::shared_ptr<run_outcome> outcome = std::make_shared<run_outcome>();
  /// Called after every applied update with the new version; true: the server dies at once,
  /// without a goodbye or a checkpoint (it quits with exit_reason::kill). The fault plan's
  /// server-crash uses it; empty: never.
  std::function<bool(std::uint64_t version)> crash_hook;
  /// Called with every row of the record once it is final (an evaluated row with its test
  /// columns), in step order, from the server's thread. false: stop the run as
  /// server_core::stop_requested does (summary completed false, "stopped at step N of M"), at the
  /// step the run has reached. The run's observer (include/dsq/run.hpp); empty: none.
  std::function<bool(const step_record& row)> on_row;
  /// Where the console lines go when `verbose`, each without its newline; empty: stdout.
  std::function<void(std::string_view line)> on_line;
  /// Read at the end for the summary's `faults_injected` ({kind: count}); empty: none.
  std::function<std::map<std::string, std::uint64_t>()> faults_injected;
  /// --servers=K: this server is shard 0, the leader, of K (1: an unsharded run, today's).
  std::uint32_t shards = 1;
  /// The K key ranges; empty: split_keys(d, K, the operators' alignment).
  std::vector<key_range> ranges;
};

} // namespace dsq
