#include "base/os/supervised_children.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace dsq {

namespace {

/// A line longer than this is forwarded in pieces (a child writing without newlines must not
/// grow the supervisor's memory).
constexpr std::size_t max_line = 64 * 1024;

} // namespace

supervised_children::supervised_children(std::FILE* out, std::FILE* err) : out_{out}, err_{err} {
  sigset_t watched;
  sigemptyset(&watched);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD})
    sigaddset(&watched, sig);
  if (::pthread_sigmask(SIG_BLOCK, &watched, &previous_mask_) != 0)
    throw std::runtime_error("supervised_children: cannot block signals");
  signal_fd_ = ::signalfd(-1, &watched, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
    throw std::runtime_error("supervised_children: signalfd failed: " +
                             std::string{::strerror(errno)});
  }
}

supervised_children::~supervised_children() {
  kill_all();
  children_.clear(); // reaps every child
  ::close(signal_fd_);
  // A SIGCHLD pending from the last children would be delivered on unblocking: it is ignored
  // by default, and a pending SIGINT or SIGTERM is the user's and should act.
  ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

std::size_t supervised_children::start(std::vector<std::string> argv, const std::string& prefix) {
  const auto id = children_.size();
  child c;
  c.process = std::make_unique<child_process>(std::move(argv), piped_output, prefix);
  c.prefix = prefix;
  children_.push_back(std::move(c));
  return id;
}

std::size_t supervised_children::running_count() const {
  std::size_t n = 0;
  for (const auto& c : children_)
    n += !c.reported;
  return n;
}

void supervised_children::emit(std::size_t id, bool from_stderr, std::string text,
                               std::vector<child_event>& events) {
  auto* sink = from_stderr ? err_ : out_;
  std::fprintf(sink, "%s %s\n", children_[id].prefix.c_str(), text.c_str());
  std::fflush(sink);
  child_event e;
  e.what = child_event::kind::line;
  e.child = id;
  e.text = std::move(text);
  e.from_stderr = from_stderr;
  events.push_back(std::move(e));
}

void supervised_children::drain(std::size_t id, int fd, std::vector<child_event>& events) {
  auto& c = children_[id];
  const bool from_stderr = fd == c.process->stderr_fd();
  auto& partial = from_stderr ? c.err_partial : c.out_partial;
  char buffer[16384];
  for (;;) {
    const auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;     // all read for now
    if (n <= 0) { // the end (a read error ends the stream too)
      if (!partial.empty())
        emit(id, from_stderr, std::exchange(partial, {}), events);
      c.process->close_output(fd);
      return;
    }
    partial.append(buffer, static_cast<std::size_t>(n));
    std::size_t begin = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', begin)) {
      emit(id, from_stderr, partial.substr(begin, nl - begin), events);
      begin = nl + 1;
    }
    partial.erase(0, begin);
    while (partial.size() >= max_line) {
      emit(id, from_stderr, partial.substr(0, max_line), events);
      partial.erase(0, max_line);
    }
  }
}

std::vector<child_event> supervised_children::wait(std::chrono::milliseconds timeout) {
  std::vector<child_event> events;
  std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
  std::vector<std::size_t> owner{0};
  for (std::size_t id = 0; id < children_.size(); ++id)
    for (int fd : {children_[id].process->stdout_fd(), children_[id].process->stderr_fd()})
      if (fd >= 0) {
        fds.push_back({fd, POLLIN, 0});
        owner.push_back(id);
      }
  int ready;
  do
    ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  while (ready < 0 && errno == EINTR);
  if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
    signalfd_siginfo info{};
    while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGCHLD)
        continue; // the ends are read below
      child_event e;
      e.what = child_event::kind::signal;
      e.sig = static_cast<int>(info.ssi_signo);
      events.push_back(e);
    }
  }
  for (std::size_t i = 1; i < fds.size(); ++i)
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0)
      drain(owner[i], fds[i].fd, events);
  // Ends, after the last lines: whatever the pipes still hold is read first. A process that
  // left a descendant holding its pipes open is over all the same (its group is killed).
  for (std::size_t id = 0; id < children_.size(); ++id) {
    auto& c = children_[id];
    if (c.reported || c.process->running())
      continue;
    for (bool from_stderr : {false, true}) {
      auto fd = [&] { return from_stderr ? c.process->stderr_fd() : c.process->stdout_fd(); };
      if (fd() < 0)
        continue;
      drain(id, fd(), events);
      if (auto& partial = from_stderr ? c.err_partial : c.out_partial; !partial.empty())
        emit(id, from_stderr, std::exchange(partial, {}), events);
      c.process->close_output(fd());
    }
    c.reported = true;
    child_event e;
    e.what = child_event::kind::ended;
    e.child = id;
    e.status = *c.process->status();
    events.push_back(std::move(e));
  }
  return events;
}

void supervised_children::signal(std::size_t id, int sig) {
  auto& c = children_.at(id);
  if (!c.reported)
    c.process->send_signal(sig);
}

void supervised_children::kill_all() {
  for (auto& c : children_)
    c.process->kill_all();
}

} // namespace dsq
