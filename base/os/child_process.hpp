#pragma once

// A child process, for the system tests and the benchmarks that drive `dsq` as processes, and
// for `dsq launch`: started in a process group of its own, its stdout and stderr captured in
// files (or in pipes, for base/os/supervised_children.hpp), waited for with a timeout, and
// SIGKILLed (the whole group) when the object goes out of scope or this process dies, so that a
// failing test, an interrupted bench or a killed launcher never leaves a process behind.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>

namespace dsq {

/// How a child ended.
struct exit_status {
  bool exited = false; ///< returned from main / called exit
  int code = -1;       ///< exit code when `exited`
  int signal = 0;      ///< the signal that ended it otherwise

  bool success() const { return exited && code == 0; }
  /// "exit code 3", "killed by signal 9 (Killed)".
  std::string describe() const;
};

/// What a child used, from the kernel's accounting of it and its threads when it was reaped.
struct child_usage {
  double cpu_us = 0;             ///< user + system CPU time, microseconds
  double voluntary_switches = 0; ///< the times a thread blocked and was woken
  long max_resident_kib = 0;     ///< its peak resident memory (VmHWM at its end), KiB
};

/// Selects the constructor whose child writes into pipes instead of files.
struct piped_output_t {};
/// The tag value of that constructor.
inline constexpr piped_output_t piped_output{};

/// A started program; see the top of this file.

class child_process {
public:
  /// Starts `argv` (argv[0] is the program, looked up in PATH if it has no slash) with stdin
  /// from /dev/null and stdout/stderr in `log_dir`/`name`.out and .err. `cwd` empty: the
  /// test's working directory. Throws std::runtime_error if the program cannot be started.
  child_process(std::vector<std::string> argv, const std::filesystem::path& log_dir,
                const std::string& name, const std::filesystem::path& cwd = {});
  /// Starts `argv` as above, with stdout and stderr in two pipes whose read ends
  /// (non-blocking, closed on exec) are stdout_fd() and stderr_fd(); out() and err() are empty.
  child_process(std::vector<std::string> argv, piped_output_t, const std::string& name);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& command_line() const { return command_line_; }

  /// True until the process has ended (reaps it when it has).
  bool running();

  /// Waits up to `timeout` for the end; nullopt if it is still running then.
  std::optional<exit_status> wait_for(std::chrono::milliseconds timeout);

  /// The status once ended (nullopt while running).
  std::optional<exit_status> status() const { return status_; }

  /// What it used, once ended (zeros while running).
  const child_usage& usage() const { return usage_; }

  /// Sends `sig` to the process itself (not its group).
  void send_signal(int sig);

  /// SIGKILL to the whole process group, then reaps the process.
  void kill_all();

  /// The read end of its stdout's pipe (piped_output; -1 otherwise or once closed).
  int stdout_fd() const { return out_fd_; }
  /// The read end of its stderr's pipe (piped_output; -1 otherwise or once closed).
  int stderr_fd() const { return err_fd_; }
  /// Closes the read end `fd` (stdout_fd() or stderr_fd()), which becomes -1.
  void close_output(int fd);

  /// What it wrote so far.
  std::string out() const;
  std::string err() const;

  /// Waits until stdout contains `text` (true) or the process ended / `timeout` passed (false).
  bool wait_for_output(const std::string& text, std::chrono::milliseconds timeout);

  /// Command line, status and both outputs, for failure messages.
  std::string report() const;

private:
  std::string name_;
  std::string command_line_;
  std::filesystem::path out_path_, err_path_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::optional<exit_status> status_;
  child_usage usage_;

  /// Where the child's stdout and stderr go: files opened in the child, or pipes' write ends.
  struct child_stdio {
    std::string out_file, err_file;
    int out_fd = -1, err_fd = -1;
  };
  /// Forks and execs `argv` with `stdio`, in `cwd` (empty: this one); throws when it cannot.
  void spawn(std::vector<std::string>& argv, const child_stdio& stdio, const std::string& cwd);

  /// Records how it ended and what it used.
  void reaped(int raw, const struct rusage& used);
};

} // namespace dsq
