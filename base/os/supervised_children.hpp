#pragma once

// Child processes kept by one supervisor (`dsq launch`): each started with its output in pipes
// (base/os/child_process.hpp), every line it writes forwarded with its prefix ("[server] ...")
// to this process's stdout or stderr as it comes, its end reported once its output is read,
// and SIGINT, SIGTERM and SIGCHLD taken through a signalfd, so that one wait() sees output,
// ends and stop requests alike. The children die with the supervisor: PR_SET_PDEATHSIG for
// the ones it started, their process groups SIGKILLed when it goes out of scope.

#include "base/os/child_process.hpp"

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <signal.h>

namespace dsq {

/// What supervised_children::wait saw.
struct child_event {
  /// A line, the end of a child, or a stop signal to this process.
  enum class kind { line, ended, signal };
  kind what = kind::line;
  std::size_t child = 0;    ///< the child's id (line, ended)
  std::string text;         ///< the line without its newline (line)
  bool from_stderr = false; ///< the line came from its stderr (line)
  exit_status status;       ///< how it ended (ended)
  int sig = 0;              ///< SIGINT or SIGTERM (signal)
};

/// See the top of this file. One per process: it blocks SIGINT, SIGTERM and SIGCHLD in the
/// calling thread while it lives (its children start with no signal blocked).
class supervised_children {
public:
  /// Lines go to `out` (the children's stdout) and `err` (their stderr).
  explicit supervised_children(std::FILE* out = stdout, std::FILE* err = stderr);
  /// SIGKILLs every child's process group, then restores the signal mask.
  ~supervised_children();

  supervised_children(const supervised_children&) = delete;
  supervised_children& operator=(const supervised_children&) = delete;

  /// Starts `argv`; its lines are written as "`prefix` line". Returns its id (0, 1, ...).
  /// Throws std::runtime_error if it cannot be started.
  std::size_t start(std::vector<std::string> argv, const std::string& prefix);

  /// The process of `id`.
  child_process& process(std::size_t id) { return *children_.at(id).process; }

  /// True until the end of `id` has been reported by wait().
  bool running(std::size_t id) const { return !children_.at(id).reported; }

  /// How many children have not been reported ended yet.
  std::size_t running_count() const;

  /// Waits up to `timeout` for something to happen; forwards the lines it read and returns
  /// them with the children that ended (after their last lines) and the stop signals received.
  /// Empty when nothing happened within `timeout`.
  std::vector<child_event> wait(std::chrono::milliseconds timeout);

  /// Sends `sig` to the child `id` itself (its process, not its group), if it runs.
  void signal(std::size_t id, int sig);

  /// SIGKILL to every child's process group.
  void kill_all();

private:
  struct child {
    std::unique_ptr<child_process> process;
    std::string prefix;
    std::string out_partial, err_partial; ///< the line being written
    bool reported = false;
  };

  /// Reads what `fd` of child `id` holds, forwarding complete lines; at its end, the last
  /// partial line too, and closes it.
  void drain(std::size_t id, int fd, std::vector<child_event>& events);
  /// Forwards one line of child `id` and records it.
  void emit(std::size_t id, bool from_stderr, std::string text, std::vector<child_event>& events);

  std::FILE* out_;
  std::FILE* err_;
  int signal_fd_ = -1;
  sigset_t previous_mask_{};
  std::vector<child> children_;
};

} // namespace dsq
