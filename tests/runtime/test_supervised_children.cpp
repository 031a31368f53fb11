// base/os/supervised_children.hpp: the output of children forwarded line by line with their
// prefix, their ends after their last lines, stop signals to this process seen by wait(), and
// no process left behind (the children's process groups, grandchildren included).
#define BOOST_TEST_MODULE supervised_children
#include <boost/test/unit_test.hpp>

#include "base/os/supervised_children.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dsq;
using namespace std::chrono_literals;

namespace {

/// What the supervisor forwarded to one FILE*, read back.
class captured {
public:
  captured() : file_{std::tmpfile()} {}
  ~captured() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string all;
    char buffer[4096];
    while (auto n = std::fread(buffer, 1, sizeof buffer, file_))
      all.append(buffer, n);
    std::fseek(file_, 0, SEEK_END);
    return all;
  }

private:
  std::FILE* file_;
};

/// Waits (at most 20 s) until `done` holds, collecting every event.
template <class Done>
std::vector<child_event> run_until(supervised_children& s, Done done) {
  std::vector<child_event> all;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done(all) && std::chrono::steady_clock::now() < deadline)
    for (auto& e : s.wait(100ms))
      all.push_back(std::move(e));
  return all;
}

bool has_ended(const std::vector<child_event>& events, std::size_t id) {
  for (const auto& e : events)
    if (e.what == child_event::kind::ended && e.child == id)
      return true;
  return false;
}

/// Whether a process `pid` exists (a zombie counts: it is not reaped).
bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

} // namespace

BOOST_AUTO_TEST_CASE(lines_are_forwarded_with_their_prefix_and_the_end_comes_after_them) {
  captured out, err;
  supervised_children s{out.file(), err.file()};
  const auto a =
      s.start({"sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 3"}, "[a]");
  const auto b = s.start({"sh", "-c", "echo b-line"}, "[worker 1@h]");
  auto events = run_until(s, [&](const auto& e) { return has_ended(e, a) && has_ended(e, b); });
  BOOST_TEST(out.text().find("[a] one\n") != std::string::npos, out.text());
  BOOST_TEST(out.text().find("[a] no newline\n") != std::string::npos, out.text());
  BOOST_TEST(out.text().find("[worker 1@h] b-line\n") != std::string::npos, out.text());
  BOOST_TEST(err.text() == "[a] two\n");
  // Every line of a comes before its end, and the end says how it ended.
  bool ended = false;
  int lines_after_end = 0;
  for (const auto& e : events) {
    if (e.child != a)
      continue;
    if (e.what == child_event::kind::ended) {
      ended = true;
      BOOST_TEST(e.status.exited);
      BOOST_TEST(e.status.code == 3);
    } else if (e.what == child_event::kind::line && ended) {
      ++lines_after_end;
    }
  }
  BOOST_TEST(ended);
  BOOST_TEST(lines_after_end == 0);
  BOOST_TEST(!s.running(a));
  BOOST_TEST(s.running_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_program_that_cannot_start_is_an_exception) {
  supervised_children s;
  BOOST_CHECK_THROW(s.start({"/nonexistent/program"}, "[x]"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(sigterm_to_this_process_is_an_event_not_an_end) {
  captured out, err;
  supervised_children s{out.file(), err.file()};
  ::kill(::getpid(), SIGTERM); // blocked while the supervisor lives: wait() reports it
  auto events = run_until(s, [](const auto& e) { return !e.empty(); });
  BOOST_REQUIRE_EQUAL(events.size(), 1u);
  BOOST_TEST((events[0].what == child_event::kind::signal));
  BOOST_TEST(events[0].sig == SIGTERM);
}

BOOST_AUTO_TEST_CASE(a_signal_reaches_the_child_and_its_end_is_reported) {
  captured out, err;
  supervised_children s{out.file(), err.file()};
  const auto id = s.start({"sh", "-c", "echo ready; exec sleep 60"}, "[s]");
  run_until(s, [&](const auto&) { return out.text().find("[s] ready") != std::string::npos; });
  s.signal(id, SIGTERM);
  auto events = run_until(s, [&](const auto& e) { return has_ended(e, id); });
  BOOST_REQUIRE(has_ended(events, id));
  BOOST_TEST(events.back().status.signal == SIGTERM);
}

BOOST_AUTO_TEST_CASE(no_process_is_left_behind_grandchildren_included) {
  captured out, err;
  pid_t child = 0, grandchild = 0;
  {
    supervised_children s{out.file(), err.file()};
    const auto id = s.start({"sh", "-c", "sleep 60 & echo $!; wait"}, "[g]");
    run_until(s, [&](const auto&) { return out.text().find("[g] ") != std::string::npos; });
    grandchild = static_cast<pid_t>(std::stoi(out.text().substr(4)));
    child = s.process(id).pid();
    BOOST_TEST(alive(child));
    BOOST_TEST(alive(grandchild));
  } // the supervisor goes: its children's groups with it
  // The grandchild is not this process's child: it is reaped by init, shortly after SIGKILL.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (alive(grandchild) && std::chrono::steady_clock::now() < deadline)
    ::usleep(10000);
  BOOST_TEST(!alive(child));
  BOOST_TEST(!alive(grandchild));
}
