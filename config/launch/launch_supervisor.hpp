#pragma once

// What `dsq launch` does about its processes once the server listens, without processes or a
// clock of its own: events with their time in (a process started, a process ended with its
// status, a stop signal, a tick), actions out (start a process, the server again with --resume;
// send a signal; kill everything; say a line; exit with a code). actors/run/launch.cpp runs the
// processes and carries out the actions; tests/config/test_launch_supervisor.cpp drives this
// with a fake clock. The rules are docs/launch.md's "Output, ends, restarts and stopping".

#include "config/launch/launch_options.hpp"
#include "config/launch/launch_plan.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dsq {

/// The launcher's clock (tests give it time points of their own).
using launch_clock = std::chrono::steady_clock;

/// One process of the plan: the server (shard `index`) or worker `index`.
struct launch_child {
  launch_role role = launch_role::worker;
  int index = 0;

  friend bool operator==(const launch_child&, const launch_child&) = default;
  friend auto operator<=>(const launch_child&, const launch_child&) = default;
};

/// How a process ended (base/os's exit_status, of which this floor knows nothing).
struct process_end {
  bool exited = false;     ///< it returned from main or called exit
  int code = -1;           ///< its exit code, when `exited`
  int signal = 0;          ///< the signal that ended it otherwise
  std::string description; ///< "exit code 3", "killed by signal 9 (Killed)"

  /// Exited with code 0.
  bool success() const { return exited && code == 0; }
  /// The exit code a shell would report: the code, or 128 + the signal.
  int shell_code() const { return exited ? code : 128 + signal; }
};

/// Whether the server's end is one that --restart-server restarts from its checkpoint: killed,
/// an error (1), an injected crash (4), its network layer lost (6); not a finished (0),
/// misconfigured (2), diverged (3) or stopped (130, 143) run.
bool server_crashed(const process_end& end);

/// One thing the launcher is to do.
struct launch_action {
  /// What to do.
  enum class kind {
    start,    ///< start `child` (the server with --resume when `resume`)
    signal,   ///< send `sig` to `child`, if it runs
    kill_all, ///< SIGKILL every process
    say,      ///< print `text` (a whole line, without its newline) to stdout, or to stderr
    exit,     ///< the launch is over: exit with `code`
  };
  kind what = kind::say;
  launch_child child; ///< start, signal
  bool resume = false;
  int sig = 0;
  std::string text;
  bool to_stderr = false;
  int code = 0;
};

/// The back-off and crash-loop rule of restarts (docs/launch.md). A process that ends within
/// `quick` of its start failed quickly; its restart waits `first_delay` doubled for every quick
/// failure before it in a row (the first one is restarted at once), at most `max_delay`; the
/// `loop_limit`-th quick failure in a row is a crash loop: it is not restarted, whatever
/// --restart-workers or --restart-server leave.
struct restart_rule {
  launch_clock::duration quick = std::chrono::seconds(10);
  launch_clock::duration first_delay = std::chrono::seconds(1);
  launch_clock::duration max_delay = std::chrono::seconds(16);
  int loop_limit = 5;
};

/// How long the stop of a run waits (docs/launch.md).
struct stop_rule {
  /// After a server that finished: its workers end by themselves, or get SIGTERM past this.
  launch_clock::duration finished_grace = std::chrono::seconds(30);
  /// After the workers' SIGTERM: what still runs is killed.
  launch_clock::duration term_to_kill = std::chrono::seconds(10);
  /// After a stop signal or a failed worker: what still runs is killed.
  launch_clock::duration stop_to_kill = std::chrono::seconds(60);
  /// After a follower shard's loss: the leader, which fails the run itself once it notices,
  /// gets SIGTERM past this (a leader still waiting for that follower to join never notices).
  launch_clock::duration shard_lost_grace = std::chrono::seconds(5);
};

/// See the top of this file. Every event returns the actions it leads to, in order.
class launch_supervisor {
public:
  /// The processes of `plan`, restarted as `opts` allows; `checkpoint` is the server's
  /// --checkpoint (what a restarted server resumes from).
  launch_supervisor(launch_plan plan, const launch_options& opts, std::string checkpoint,
                    restart_rule restarts = {}, stop_rule stops = {});

  /// The server listens on `port`: the follower shards (--servers=K) and every worker are
  /// started.
  std::vector<launch_action> listening(std::uint16_t port, launch_clock::time_point now);
  /// `child` was started (by a start action, or the server before listening()).
  void started(const launch_child& child, launch_clock::time_point now);
  /// `child` ended with `end`.
  std::vector<launch_action> ended(const launch_child& child, const process_end& end,
                                   launch_clock::time_point now);
  /// The launcher received SIGINT or SIGTERM.
  std::vector<launch_action> signalled(int sig, launch_clock::time_point now);
  /// Time passed: restarts whose back-off is over, the stop's SIGTERMs and SIGKILLs.
  std::vector<launch_action> tick(launch_clock::time_point now);

  /// The earliest time at which tick() has something to do, if any.
  std::optional<launch_clock::time_point> next_deadline() const;
  /// True once the exit action was given.
  bool over() const { return over_; }

private:
  /// Where the launch is.
  enum class phase {
    running,  ///< the run goes on
    stopping, ///< stopped by a signal or a failed worker: the server dismisses the workers
    ending,   ///< the server ended: the workers finish, or are stopped
  };

  /// What is known of one process of the plan.
  struct child_state {
    bool running = false;
    launch_clock::time_point started_at{};
    int quick_failures = 0; ///< in a row
    std::optional<launch_clock::time_point> restart_at;
  };

  /// Marks `c` running and says to start it (a server started before, with --resume).
  launch_action start_child(const launch_child& c, launch_clock::time_point now);
  const planned_process& planned(const launch_child& c) const;
  std::string prefix(const launch_child& c) const { return planned(c).prefix(); }
  /// Counts a failure of `c` at `now`; the back-off of its restart, or nullopt for a crash loop.
  std::optional<launch_clock::duration> backoff(const launch_child& c,
                                                launch_clock::time_point now);
  void on_server_end(const process_end& end, launch_clock::time_point now,
                     std::vector<launch_action>& out);
  void on_worker_end(const launch_child& c, const process_end& end, launch_clock::time_point now,
                     std::vector<launch_action>& out);
  /// Follower shard `c` (--servers=K) ended: reported by its shard number; a crash restarts
  /// every shard as a server's crash does (restart_shards), else the leader ends the run.
  void on_follower_end(const launch_child& c, const process_end& end, launch_clock::time_point now,
                       std::vector<launch_action>& out);
  /// "shard 1 of 2 [server 1@host]".
  std::string shard_name(const launch_child& c) const;
  /// Every shard is to start again with --resume at `at` (each from its own checkpoint): the
  /// ones still running are killed first, since a sharded run resumes from one cut of all K.
  void restart_shards(launch_clock::time_point at, std::vector<launch_action>& out);
  bool any_shard_running() const;
  /// Passes `sig` on to the server, or to the workers when it does not run.
  void stop_run(int sig, std::vector<launch_action>& out);
  /// Drops the restarts still waiting (the run is stopping).
  void cancel_restarts();
  /// The exit action, once nothing runs or waits to run.
  void maybe_exit(std::vector<launch_action>& out);

  launch_plan plan_;
  launch_options opts_;
  std::string checkpoint_;
  restart_rule restarts_;
  stop_rule stops_;
  std::uint16_t port_ = 0;
  std::map<launch_child, child_state> children_;
  std::set<launch_child> ever_started_;
  std::uint64_t server_restarts_ = 0, worker_restarts_ = 0;
  phase phase_ = phase::running;
  int signals_ = 0;
  int exit_code_ = 0;
  bool worker_failed_ = false;
  bool shard_failed_ = false; ///< a follower died and no restart was left
  /// When every shard starts again (restart_shards), once none runs.
  std::optional<launch_clock::time_point> shards_restart_at_;
  bool over_ = false;
  std::optional<launch_clock::time_point> term_at_, kill_at_;
  std::optional<launch_clock::time_point> leader_term_at_; ///< stop_rule::shard_lost_grace
};

} // namespace dsq
