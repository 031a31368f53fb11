#include "base/os/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dsq {

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

exit_status decode(int raw) {
  exit_status s;
  if (WIFEXITED(raw)) {
    s.exited = true;
    s.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    s.signal = WTERMSIG(raw);
  }
  return s;
}

// Only async-signal-safe calls between fork and exec: report a failure through `fd`.
[[noreturn]] void child_fail(int fd, int err) {
  [[maybe_unused]] auto n = ::write(fd, &err, sizeof err);
  ::_exit(127);
}

} // namespace

std::string exit_status::describe() const {
  if (exited)
    return "exit code " + std::to_string(code);
  if (signal != 0)
    return std::string{"killed by signal "} + std::to_string(signal) + " (" + ::strsignal(signal) +
           ")";
  return "unknown status";
}

child_process::child_process(std::vector<std::string> argv, const std::filesystem::path& log_dir,
                             const std::string& name, const std::filesystem::path& cwd)
    : name_{name}, out_path_{log_dir / (name + ".out")}, err_path_{log_dir / (name + ".err")} {
  child_stdio stdio;
  stdio.out_file = out_path_.string();
  stdio.err_file = err_path_.string();
  spawn(argv, stdio, cwd.string());
}

child_process::child_process(std::vector<std::string> argv, piped_output_t, const std::string& name)
    : name_{name} {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("child_process: pipe failed: " + std::string{::strerror(errno)});
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error("child_process: pipe failed: " + std::string{::strerror(errno)});
  }
  child_stdio stdio;
  stdio.out_fd = out[1];
  stdio.err_fd = err[1];
  try {
    spawn(argv, stdio, {});
  } catch (...) {
    for (int fd : {out[0], out[1], err[0], err[1]})
      ::close(fd);
    throw;
  }
  ::close(out[1]);
  ::close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  for (int fd : {out_fd_, err_fd_})
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void child_process::spawn(std::vector<std::string>& argv, const child_stdio& stdio,
                          const std::string& dir) {
  if (argv.empty())
    throw std::invalid_argument("child_process: empty command line");
  for (const auto& a : argv)
    command_line_ += (command_line_.empty() ? "" : " ") + a;
  // Everything the child needs is prepared before fork.
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    throw std::runtime_error("child_process: pipe failed: " + std::string{::strerror(errno)});
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(report[0]);
    ::close(report[1]);
    throw std::runtime_error("child_process: fork failed: " + std::string{::strerror(errno)});
  }
  if (pid_ == 0) {
    ::close(report[0]);
    ::setpgid(0, 0);
    // Die with the process that started it, even if that is killed without running
    // destructors.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP})
      ::signal(sig, SIG_DFL);
    int in = ::open("/dev/null", O_RDONLY);
    int out = stdio.out_fd >= 0
                  ? stdio.out_fd
                  : ::open(stdio.out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = stdio.err_fd >= 0
                  ? stdio.err_fd
                  : ::open(stdio.err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0)
      child_fail(report[1], errno);
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0)
      child_fail(report[1], errno);
    if (!dir.empty() && ::chdir(dir.c_str()) != 0)
      child_fail(report[1], errno);
    ::execvp(args[0], args.data());
    child_fail(report[1], errno);
  }
  ::setpgid(pid_, pid_); // also from here, so that the group exists when we return
  ::close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do
    n = ::read(report[0], &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n > 0) {
    int raw = 0;
    rusage used{};
    ::wait4(pid_, &raw, 0, &used);
    reaped(raw, used);
    throw std::runtime_error("child_process: cannot start '" + command_line_ +
                             "': " + ::strerror(child_errno));
  }
}

child_process::~child_process() {
  kill_all();
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0)
      ::close(fd);
}

void child_process::close_output(int fd) {
  if (fd < 0)
    return;
  if (fd == out_fd_)
    out_fd_ = -1;
  else if (fd == err_fd_)
    err_fd_ = -1;
  else
    return;
  ::close(fd);
}

void child_process::reaped(int raw, const struct rusage& used) {
  status_ = decode(raw);
  usage_.cpu_us = 1e6 * static_cast<double>(used.ru_utime.tv_sec + used.ru_stime.tv_sec) +
                  static_cast<double>(used.ru_utime.tv_usec + used.ru_stime.tv_usec);
  usage_.voluntary_switches = static_cast<double>(used.ru_nvcsw);
  usage_.max_resident_kib = used.ru_maxrss; // KiB on Linux
}

bool child_process::running() {
  if (status_)
    return false;
  int raw = 0;
  rusage used{};
  pid_t r = ::wait4(pid_, &raw, WNOHANG, &used);
  if (r == pid_) {
    reaped(raw, used);
    // Anything it left behind in its group (there should be nothing) goes too.
    ::kill(-pid_, SIGKILL);
    return false;
  }
  return true;
}

std::optional<exit_status> child_process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5}); // nothing to wait on: poll
  return status_;
}

void child_process::send_signal(int sig) {
  if (running())
    ::kill(pid_, sig);
}

void child_process::kill_all() {
  if (pid_ <= 0)
    return;
  if (!status_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int raw = 0;
    rusage used{};
    pid_t r;
    do
      r = ::wait4(pid_, &raw, 0, &used);
    while (r < 0 && errno == EINTR);
    if (r == pid_)
      reaped(raw, used);
  }
  // Once reaped, running() has already killed what was left of the group: the id may be
  // reused by now, so it is not signalled again.
}

std::string child_process::out() const {
  return out_path_.empty() ? std::string{} : slurp(out_path_);
}

std::string child_process::err() const {
  return err_path_.empty() ? std::string{} : slurp(err_path_);
}

bool child_process::wait_for_output(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (out().find(text) != std::string::npos)
      return true;
    if (!running() || std::chrono::steady_clock::now() >= deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  // It may have printed the text just before it ended.
  return out().find(text) != std::string::npos;
}

std::string child_process::report() const {
  std::ostringstream r;
  r << "--- " << name_ << ": " << command_line_ << "\n    "
    << (status_ ? status_->describe() : std::string{"still running"}) << "\n--- stdout:\n"
    << out() << "--- stderr:\n"
    << err() << "---\n";
  return r.str();
}

} // namespace dsq
