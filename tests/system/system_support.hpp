#pragma once

// Helpers of the system tests: the dsq binary, temporary directories, the run's CSV and JSON
// outputs, and a `cluster` of dsq processes (one server, any number of workers) that prints
// every process's output when the test fails and kills whatever still runs when it ends.

#include "base/os/child_process.hpp"
#include "tests/support/temp_directory.hpp"

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef DSQ_BINARY
#error "DSQ_BINARY must name the dsq executable (set by tests/system/CMakeLists.txt)"
#endif

namespace dsq::system_test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using dsq::child_process; // base/os/child_process.hpp
using dsq::exit_status;

/// Polls `pred` every few milliseconds until it holds (true) or `timeout` passes (false).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds{10}) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll);
  }
}

inline std::string dsq_binary() {
  return DSQ_BINARY;
}

/// dsq local and dsq server exit with 128 + the signal that stopped their run (143: SIGTERM).
inline bool stopped_by_sigterm(const exit_status& s) {
  return s.exited && s.code == 128 + SIGTERM;
}

/// A tiny run that takes well under a second in one process.
inline std::vector<std::string> tiny_run(int steps = 200) {
  return {"--dataset=synthetic:n=3000,d=20,classes=4", "--model=softmax",
          "--steps=" + std::to_string(steps), "--eval-every=0"};
}

inline std::vector<std::string> concat(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// The shared temporary directory (tests/support/temp_directory.hpp), tagged "system" unless
/// told otherwise, with `dir / "name"` as a string for the command lines built from it.
class temp_dir : public temp_directory {
public:
  /// A fresh `<tmp>/dsq-<tag>-<pid>-<counter>`.
  explicit temp_dir(const std::string& tag = "system") : temp_directory{tag} {}

  /// The path of the file `name` of this directory.
  std::string operator/(const std::string& name) const { return (path() / name).string(); }
};

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
}

inline std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in{text};
  while (std::getline(in, part, sep))
    parts.push_back(part);
  if (!text.empty() && text.back() == sep && sep != '\n')
    parts.emplace_back();
  return parts;
}

/// Lines of `text` that are not empty.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  for (auto& l : split(text, '\n'))
    if (!l.empty())
      result.push_back(l);
  return result;
}

/// The metrics CSV: a header and rows of fields kept as printed.
struct csv_table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::size_t column(const std::string& name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name)
        return i;
    throw std::runtime_error("no column '" + name + "' in the metrics CSV");
  }
  const std::string& at(std::size_t row, const std::string& name) const {
    return rows.at(row).at(column(name));
  }
  /// The column as printed, one entry per row.
  std::vector<std::string> values(const std::string& name) const {
    std::vector<std::string> out;
    for (std::size_t r = 0; r < rows.size(); ++r)
      out.push_back(at(r, name));
    return out;
  }
};

/// Reads complete lines only: a file being written may end in half a row.
inline csv_table read_csv(const std::filesystem::path& path) {
  csv_table t;
  auto text = read_text(path);
  auto end = text.rfind('\n');
  if (end == std::string::npos)
    return t;
  auto all = split(text.substr(0, end + 1), '\n');
  if (all.empty())
    return t;
  t.header = split(all[0], ',');
  for (std::size_t i = 1; i < all.size(); ++i)
    if (!all[i].empty())
      t.rows.push_back(split(all[i], ','));
  return t;
}

/// Number of data rows (complete lines after the header) written so far.
inline std::size_t csv_rows(const std::filesystem::path& path) {
  auto text = read_text(path);
  std::size_t n = 0;
  for (char c : text)
    n += c == '\n';
  return n > 0 ? n - 1 : 0;
}

/// The value of `"key": value` in the summary JSON (one key a line, as dsq writes it), as
/// printed; strings without their quotes. nullopt when the key is absent.
inline std::optional<std::string> json_value(const std::string& text, const std::string& key) {
  std::regex pattern{"\"" + key + "\"\\s*:\\s*(\"((\\\\.|[^\"\\\\])*)\"|[^,\\n}]+)"};
  std::smatch m;
  if (!std::regex_search(text, m, pattern))
    return std::nullopt;
  if (m[2].matched)
    return m[2].str();
  auto v = m[1].str();
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r'))
    v.pop_back();
  return v;
}

/// A TCP socket bound to a free port of 127.0.0.1 (not listening): the socket and the port.
inline std::pair<int, std::uint16_t> bound_loopback_socket() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return {fd, ntohs(addr.sin_port)};
}

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
inline std::uint16_t closed_port() {
  auto [fd, port] = bound_loopback_socket();
  ::close(fd);
  return port;
}

/// The port of "dsq server: listening on ADDR:PORT" in `out`, or 0.
inline std::uint16_t listening_port(const std::string& out) {
  std::smatch m;
  std::regex pattern{"dsq server: listening on ([^ ]+):([0-9]+),"};
  if (!std::regex_search(out, m, pattern))
    return 0;
  return static_cast<std::uint16_t>(std::stoi(m[2].str()));
}

inline bool current_test_failed() {
  using namespace boost::unit_test;
  return !results_collector.results(framework::current_test_case().p_id).passed();
}

/// One dsq server and its workers, with their files in a temporary directory.
class cluster {
public:
  explicit cluster(const std::string& tag = "cluster") : dir_{tag} {}
  ~cluster() {
    if (current_test_failed())
      dump();
    for (auto& p : processes_)
      p->kill_all();
  }

  const temp_dir& dir() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ / name; }
  std::string metrics() const { return file("metrics.csv"); }
  std::string summary() const { return file("summary.json"); }
  std::uint16_t port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }

  /// Any process, its logs in the cluster's directory.
  child_process& start(const std::string& name, std::vector<std::string> argv) {
    processes_.push_back(std::make_unique<child_process>(std::move(argv), dir_.path(), name));
    return *processes_.back();
  }

  /// `prefix dsq server --port=0 --bind=HOST --metrics=... --summary=... args`; waits for the
  /// listening line and reads the port from it.
  child_process& start_server(const std::vector<std::string>& args,
                              const std::string& host = "127.0.0.1",
                              const std::vector<std::string>& prefix = {}) {
    host_ = host;
    auto argv = concat(prefix, {program_, "server", "--port=0", "--bind=" + host,
                                "--metrics=" + metrics(), "--summary=" + summary()});
    auto& server = start("server", concat(argv, args));
    server_ = &server;
    BOOST_REQUIRE_MESSAGE(server.wait_for_output("dsq server: listening on", 20s),
                          "the server did not report its port:\n"
                              << server.report());
    port_ = listening_port(server.out());
    BOOST_REQUIRE_MESSAGE(port_ != 0, "no port in the server's line:\n" << server.out());
    return server;
  }

  child_process& server() { return *server_; }

  /// The program its server and workers run from now on (default dsq_binary()): a dsq with a
  /// program's own models registered (dsq_with_test_plugins).
  void use_program(std::string path) { program_ = std::move(path); }

  /// `prefix dsq worker --server=HOST:PORT args`.
  child_process& start_worker(const std::vector<std::string>& args = {},
                              const std::vector<std::string>& prefix = {}) {
    auto name = "worker" + std::to_string(++workers_started_);
    auto argv =
        concat(prefix, {program_, "worker", "--server=" + address(), "--connect-timeout=10"});
    return start(name, concat(argv, args));
  }

  /// Waits until the metrics CSV holds at least `rows` rows; false at the timeout or when the
  /// server ended first.
  bool wait_for_rows(std::size_t rows, std::chrono::milliseconds timeout) {
    return wait_until(
               [&] { return csv_rows(metrics()) >= rows || (server_ && !server_->running()); },
               timeout) &&
           csv_rows(metrics()) >= rows;
  }

  /// Waits for every process to end; true when all did within `timeout` (shared).
  bool wait_all(std::chrono::milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    for (auto& p : processes_) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (!p->wait_for(std::max(left, std::chrono::milliseconds{0})))
        return false;
    }
    return true;
  }

  std::string summary_text() const { return read_text(summary()); }
  std::optional<std::string> summary_value(const std::string& key) const {
    return json_value(summary_text(), key);
  }

  /// Every process's command line, status and output.
  void dump() const {
    std::cerr << "==== processes of the failed test (files in " << dir_.path() << ")\n";
    for (const auto& p : processes_)
      std::cerr << p->report();
  }

private:
  temp_dir dir_;
  std::vector<std::unique_ptr<child_process>> processes_;
  child_process* server_ = nullptr;
  std::string program_ = dsq_binary();
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  int workers_started_ = 0;
};

/// A step count no test reaches: such a run goes on until the test has seen the event it is
/// about and ends it with stop_run. Runs of a fixed length had to outlast a process start yet end
/// within the time bound, which a loaded machine broke both ways.
constexpr std::uint64_t forever = 10'000'000;

/// Ends the run with SIGTERM to the server; every process must end well within `timeout` and
/// the outputs hold the S steps made. Returns S.
inline std::uint64_t stop_run(cluster& c, std::chrono::milliseconds timeout) {
  c.server().send_signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(c.wait_all(timeout), "the run did not end after SIGTERM");
  BOOST_TEST(stopped_by_sigterm(*c.server().status()), c.server().report());
  BOOST_TEST(c.summary_value("completed").value_or("") == "false");
  const auto note = c.summary_value("note").value_or("");
  BOOST_TEST(note.find("stopped at step") != std::string::npos, note);
  const auto steps = std::stoull(c.summary_value("steps").value_or("0"));
  BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
  return steps;
}

/// Plays attack_client's bad-variant attack (tests/system/attack_client.cpp): arms it, fires it
/// and requires that the server closed that one connection and still runs.
inline void expect_undecodable_message_closes_only_its_connection(child_process& attacker,
                                                                  child_process& server) {
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: armed", 20s), attacker.report());
  attacker.send_signal(SIGUSR1);
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: sent a config_value", 20s),
                        attacker.report());
  // The attacker learns that its connection is gone (the server's proxy goes down).
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: the server ended", 30s),
                        attacker.report());
  BOOST_REQUIRE_MESSAGE(wait_until(
                            [&] {
                              return server.err().find("closed the connection from 127.0.0.1") !=
                                     std::string::npos;
                            },
                            10s),
                        server.report());
  BOOST_REQUIRE_MESSAGE(server.running(), server.report());
}

} // namespace dsq::system_test
