// dsq launch (actors/run/launch.cpp) driven as a process: a run launched on this machine
// equals the same run started by hand; a launch over three network namespaces whose server is
// SIGKILLed mid-run restarts it from its checkpoint and ends like the undisturbed run; a bad
// host file, an unreachable host, a launch command that fails, a failed worker and a stopped
// or killed launcher each end with a clear error, a non-zero exit and no process left behind
// (read from the process table), also with --servers=2, whose follower runs on a host of its own
// and equals the unsharded run. The namespace tests need root and skip themselves otherwise.
#define BOOST_TEST_MODULE dsq_system_launch
#include <boost/test/unit_test.hpp>

#include "resume_support.hpp"
#include "system_support.hpp"
#include "training/checkpoint.hpp"

#include <cstring>
#include <dirent.h>
#include <map>

using namespace dsq::system_test;

namespace {

constexpr auto launch_timeout = 120s;

/// A short sync run of 3 workers (a random operator: its streams must match too), with a
/// seed, and `marker` in every process's command line (--data-dir, which a synthetic data
/// set does not read) so that the process table can be searched for what is left.
std::vector<std::string> launched_run(std::uint64_t steps, const std::string& marker) {
  return {"--dataset=synthetic:n=3000,d=20,classes=4",
          "--model=mlp:hidden=16",
          "--compressor=randomk:k=0.1",
          "--steps=" + std::to_string(steps),
          "--eval-every=0",
          "--workers=3",
          "--seed=11",
          "--data-dir=" + marker};
}

/// The processes whose command line holds `marker` (this test's own excluded).
std::vector<std::string> processes_with(const std::string& marker) {
  std::vector<std::string> found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr)
    return found;
  while (auto* entry = ::readdir(proc)) {
    const std::string name = entry->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(name) == ::getpid())
      continue;
    auto cmdline = read_text("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    auto stat = read_text("/proc/" + name + "/stat");
    const auto state_at = stat.rfind(')');
    const bool zombie =
        state_at != std::string::npos && state_at + 2 < stat.size() && stat[state_at + 2] == 'Z';
    if (cmdline.find(marker) != std::string::npos && !zombie)
      found.push_back(name + ": " + cmdline);
  }
  ::closedir(proc);
  return found;
}

/// Requires that no process with `marker` remains (orphans are reaped by init: a moment).
void expect_nothing_left(const std::string& marker) {
  wait_until([&] { return processes_with(marker).empty(); }, 10s);
  const auto left = processes_with(marker);
  std::string list;
  for (const auto& p : left)
    list += "\n  " + p;
  BOOST_TEST(left.empty(), "processes left behind:" << list);
}

/// `dsq launch args...` with its output in `dir`.
child_process& launch(cluster& c, const std::string& name, const std::vector<std::string>& args) {
  return c.start(name, concat({dsq_binary(), "launch"}, args));
}

/// The pid that dsq launch printed for `prefix` ("[server]"): its last "started" line.
pid_t started_pid(const std::string& out, const std::string& prefix) {
  const auto head = "dsq launch: " + prefix + " started on ";
  const auto at = out.rfind(head);
  if (at == std::string::npos)
    return -1;
  const auto pid_at = out.find(": pid ", at + head.size());
  return pid_at == std::string::npos ? -1 : std::stoi(out.substr(pid_at + 6));
}

/// Runs `ip args...`; true when it succeeded within 10 s (its error in `err`).
bool ip(const std::vector<std::string>& args, const temp_dir& logs, std::string* err = nullptr) {
  static int count = 0;
  try {
    child_process p{concat({"ip"}, args), logs.path(), "ip" + std::to_string(++count)};
    auto s = p.wait_for(10s);
    if (err)
      *err = p.err();
    return s && s->success();
  } catch (const std::exception& e) {
    if (err)
      *err = e.what();
    return false;
  }
}

/// launched_run with fp16, coordinate-wise: a run of K shards equals the unsharded one bit for
/// bit (docs/compression.md, "Sharded operators").
std::vector<std::string> sharded_run(std::uint64_t steps, const std::string& marker) {
  auto run = launched_run(steps, marker);
  for (auto& a : run)
    if (a.rfind("--compressor=", 0) == 0)
      a = "--compressor=fp16";
  return run;
}

std::string namespace_prefix() {
  return "dsq-launch-" + std::to_string(::getpid());
}

/// Precondition: can this process create a network namespace?
boost::test_tools::assertion_result namespaces_available(boost::unit_test::test_unit_id) {
  temp_dir logs{"launch-probe"};
  const auto probe = namespace_prefix() + "-probe";
  std::string err;
  if (!ip({"netns", "add", probe}, logs, &err)) {
    auto why = "SKIPPED: cannot create a network namespace (needs root and iproute2): " +
               (lines(err).empty() ? std::string{"ip netns add failed"} : lines(err).front());
    std::cerr << "test_system_launch: " << why << "\n";
    boost::test_tools::assertion_result r{false};
    r.message() << why;
    return r;
  }
  ip({"netns", "delete", probe}, logs);
  return true;
}

/// Three namespaces as three hosts on one bridge (in the first): 10.214.X.1, .2 and .3;
/// deleted when this goes.
class three_hosts {
public:
  three_hosts() {
    const auto pid = ::getpid();
    net_ = "10.214." + std::to_string(1 + pid % 250) + ".";
    for (int i = 1; i <= 3; ++i) {
      names_.push_back(namespace_prefix() + "-" + std::to_string(i));
      run({"netns", "add", names_.back()});
      created_ = i;
      run({"-n", names_.back(), "link", "set", "lo", "up"});
    }
    run({"-n", names_[0], "link", "add", "br0", "type", "bridge"});
    run({"-n", names_[0], "link", "set", "br0", "up"});
    run({"-n", names_[0], "addr", "add", net_ + "1/24", "dev", "br0"});
    for (int i = 2; i <= 3; ++i) {
      const auto side = "v" + std::to_string(i);
      run({"-n", names_[0], "link", "add", side, "type", "veth", "peer", "name", "eth0", "netns",
           names_[static_cast<std::size_t>(i - 1)]});
      run({"-n", names_[0], "link", "set", side, "master", "br0"});
      run({"-n", names_[0], "link", "set", side, "up"});
      run({"-n", names_[static_cast<std::size_t>(i - 1)], "addr", "add",
           net_ + std::to_string(i) + "/24", "dev", "eth0"});
      run({"-n", names_[static_cast<std::size_t>(i - 1)], "link", "set", "eth0", "up"});
    }
  }
  ~three_hosts() {
    for (int i = 0; i < created_; ++i)
      if (!ip({"netns", "delete", names_[static_cast<std::size_t>(i)]}, logs_))
        std::cerr << "could not delete network namespace " << names_[static_cast<std::size_t>(i)]
                  << "\n";
  }
  three_hosts(const three_hosts&) = delete;
  three_hosts& operator=(const three_hosts&) = delete;

  /// A host file: one worker slot on each, each at its bridge address; the server on the
  /// first (shard k of --servers=K on the (k+1)-th).
  std::string host_file() const {
    return "# three network namespaces on one bridge\n" + names_[0] +
           " slots=1 address=" + address(0) + "\n" + names_[1] + " address=" + address(1) + "\n" +
           names_[2] + " slots=1 address=" + address(2) + "\n";
  }
  /// The namespace of host `i` (from 0) and its address on the bridge.
  const std::string& name(int i) const { return names_.at(static_cast<std::size_t>(i)); }
  std::string address(int i) const { return net_ + std::to_string(i + 1); }

private:
  void run(const std::vector<std::string>& args) {
    std::string err;
    std::string line;
    for (const auto& a : args)
      line += " " + a;
    BOOST_REQUIRE_MESSAGE(ip(args, logs_, &err), "ip" << line << " failed: " << err);
  }

  temp_dir logs_{"launch-ip"};
  std::string net_;
  std::vector<std::string> names_;
  int created_ = 0;
};

} // namespace

BOOST_AUTO_TEST_SUITE(on_this_machine)

// The launcher adds nothing to a run: started without a host file it is `dsq server --port=0`
// and three `dsq worker`s on 127.0.0.1, and ends with the same metrics, bit for bit.
BOOST_AUTO_TEST_CASE(a_launch_without_a_host_file_equals_the_run_started_by_hand) {
  const std::uint64_t steps = 400;
  cluster by_hand{"launch-by-hand"};
  auto run = launched_run(steps, by_hand.dir().path().string());
  by_hand.start_server(run);
  for (int i = 0; i < 3; ++i)
    by_hand.start_worker();
  BOOST_REQUIRE_MESSAGE(by_hand.wait_all(launch_timeout), "the run by hand did not end");
  BOOST_REQUIRE(by_hand.server().status()->success());

  cluster c{"launch-local"};
  const auto marker = c.dir().path().string();
  auto& l = launch(c, "launch",
                   concat(launched_run(steps, marker),
                          {"--metrics=" + c.metrics(), "--summary=" + c.summary()}));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  for (const char* key : {"final_train_loss", "test_loss", "bytes_up", "bytes_down", "steps"})
    BOOST_TEST(c.summary_value(key).value_or("launched") ==
                   by_hand.summary_value(key).value_or("by hand"),
               key);
  BOOST_TEST(read_csv(c.metrics()).values("train_loss") ==
             read_csv(by_hand.metrics()).values("train_loss"));
  // Every process's lines, prefixed.
  const auto out = l.out();
  BOOST_TEST(out.find("[server] dsq server: listening on 127.0.0.1:") != std::string::npos, out);
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(out.find("[worker " + std::to_string(i) + "@localhost] dsq worker: connected") !=
                   std::string::npos,
               out);
  BOOST_TEST(out.find("dsq launch: the server ended (exit code 0)") != std::string::npos, out);
  expect_nothing_left(marker);
}

// --tls-dir: each process gets its own certificate of scripts/make-certs.sh's directory, and
// the TLS run equals the plaintext one.
BOOST_AUTO_TEST_CASE(a_launch_with_tls_dir_runs_over_tls_and_equals_plaintext) {
  const char* source = std::getenv("DSQ_SOURCE_DIR");
  BOOST_REQUIRE_MESSAGE(source != nullptr, "DSQ_SOURCE_DIR names the source tree (CTest sets it)");
  cluster c{"launch-tls"};
  const auto marker = c.dir().path().string();
  child_process certs{
      {"bash", std::string{source} + "/scripts/make-certs.sh", c.file("certs"), "3", "127.0.0.1"},
      c.dir().path(),
      "make-certs"};
  auto made = certs.wait_for(60s);
  BOOST_REQUIRE_MESSAGE(made && made->success(), certs.report());
  const auto run = launched_run(200, marker);
  auto& tls = launch(
      c, "tls", concat(run, {"--tls-dir=" + c.file("certs"), "--summary=" + c.file("tls.json")}));
  auto& plain = launch(c, "plain", concat(run, {"--summary=" + c.file("plain.json")}));
  for (auto* l : {&tls, &plain}) {
    auto s = l->wait_for(launch_timeout);
    BOOST_REQUIRE_MESSAGE(s && s->success(), l->report());
  }
  BOOST_TEST(tls.out().find("[worker 2@localhost] dsq worker: connected") != std::string::npos,
             tls.report());
  BOOST_TEST(json_value(read_text(c.file("tls.json")), "final_train_loss").value_or("tls") ==
             json_value(read_text(c.file("plain.json")), "final_train_loss").value_or("plain"));
  // A directory without a worker's files is refused before anything starts.
  auto& few = launch(
      c, "few", concat(launched_run(200, marker), {"--workers=4", "--tls-dir=" + c.file("certs")}));
  auto s = few.wait_for(30s);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->code == 2);
  BOOST_TEST(few.err().find("no worker-4.pem (scripts/make-certs.sh") != std::string::npos,
             few.report());
  // Each worker reads its own files: a broken certificate of worker 1 fails that worker alone.
  write_text(c.file("certs") + "/worker-2.pem", "not a certificate\n");
  auto& broken =
      launch(c, "broken", concat(launched_run(100000, marker), {"--tls-dir=" + c.file("certs")}));
  s = broken.wait_for(launch_timeout);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->code == 1, broken.report());
  BOOST_TEST(broken.err().find("dsq launch: error: [worker 1@localhost] failed") !=
                 std::string::npos,
             broken.report());
  expect_nothing_left(marker);
}

// Hosts other than localhost go through the launch command; here a local shell plays the
// remote one ({command}: the quoted command line as one word), and a path with a blank and a
// quote reaches the server intact.
BOOST_AUTO_TEST_CASE(a_launch_command_gets_the_command_line_quoted_for_a_shell) {
  cluster c{"launch-template"};
  const auto marker = c.dir().path().string();
  write_text(c.file("hosts"), "fake-a slots=2 address=127.0.0.1\nfake-b slots=1\n");
  std::filesystem::create_directories(c.file("it's a dir"));
  const auto summary = c.file("it's a dir") + "/summary.json";
  auto& l = launch(c, "launch",
                   concat(launched_run(200, marker),
                          {"--hostfile=" + c.file("hosts"),
                           "--launch-command=sh -c {command} {host}", "--summary=" + summary}));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  BOOST_TEST(json_value(read_text(summary), "completed").value_or("") == "true");
  BOOST_TEST(l.out().find("[worker 2@fake-b] dsq worker: connected to 127.0.0.1:") !=
                 std::string::npos,
             l.report());
  expect_nothing_left(marker);
}

// The default launch command, `ssh {host}`, with a fake ssh first on PATH that records its
// arguments and runs the command here, as the remote shell would: each process is started as
// `ssh HOST DSQ ARGS...` (docs/launch.md: the template's words with {host} replaced, then the
// dsq binary and its arguments, each quoted for a POSIX shell where it needs it), and the run
// succeeds.
BOOST_AUTO_TEST_CASE(the_default_launch_command_is_ssh_host_then_the_quoted_command) {
  cluster c{"launch-ssh"};
  const auto marker = c.dir().path().string();
  const auto bin = c.file("fake-bin"), calls = c.file("ssh-calls");
  std::filesystem::create_directories(bin);
  std::filesystem::create_directories(calls);
  // Its arguments one per line in ssh-calls/PID; then, like sshd, the rest joined with blanks
  // for a shell, which removes the quotes.
  write_text(bin + "/ssh", "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + calls +
                               "'/$$\nshift\nexec sh -c \"exec $*\"\n");
  std::filesystem::permissions(bin + "/ssh", std::filesystem::perms::owner_all);
  write_text(c.file("hosts"), "fake-a slots=2 address=127.0.0.1\nfake-b slots=1\n");
  std::filesystem::create_directories(c.file("it's a dir"));
  const auto summary = c.file("it's a dir") + "/summary.json";
  const char* path = std::getenv("PATH");
  auto& l = c.start(
      "launch",
      concat({"env", "PATH=" + bin + ":" + (path ? path : "/usr/bin:/bin"), dsq_binary(), "launch"},
             concat(launched_run(200, marker),
                    {"--hostfile=" + c.file("hosts"), "--summary=" + summary})));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  BOOST_TEST(json_value(read_text(summary), "completed").value_or("") == "true");
  // One ssh call per process: the host, this dsq, its command and options.
  const auto self = std::filesystem::canonical(dsq_binary()).string();
  std::map<std::string, int> servers, workers;
  for (const auto& entry : std::filesystem::directory_iterator(calls)) {
    const auto args = lines(read_text(entry.path().string()));
    BOOST_REQUIRE_GE(args.size(), 3u);
    BOOST_TEST(args[1] == self, "the dsq binary follows the host");
    if (args[2] == "server") {
      ++servers[args[0]];
      // A word a shell would split or unquote is quoted; the others are left alone.
      BOOST_TEST(std::count(args.begin(), args.end(),
                            "'--summary=" + c.file("it'\\''s a dir") + "/summary.json'") == 1,
                 read_text(entry.path().string()));
      BOOST_TEST(std::count(args.begin(), args.end(), "--bind=127.0.0.1") == 1);
    } else {
      BOOST_TEST(args[2] == "worker");
      ++workers[args[0]];
      BOOST_TEST(args[3].rfind("--server=127.0.0.1:", 0) == 0u, args[3]);
    }
  }
  BOOST_TEST((servers == std::map<std::string, int>{{"fake-a", 1}}),
             "the server on the first host");
  BOOST_TEST((workers == std::map<std::string, int>{{"fake-a", 2}, {"fake-b", 1}}),
             "the workers in the slots");
  BOOST_TEST(l.out().find("[worker 2@fake-b] dsq worker: connected to 127.0.0.1:") !=
                 std::string::npos,
             l.report());
  expect_nothing_left(marker);
}

// A failed worker is reported and restarted (--restart-workers): it joins the run again.
BOOST_AUTO_TEST_CASE(a_failed_worker_is_restarted_and_the_run_completes) {
  cluster c{"launch-restart-worker"};
  const auto marker = c.dir().path().string();
  // Worker 1 crashes at step 100 (dsq worker exits 5); its replacement joins.
  auto& l =
      launch(c, "launch",
             concat(launched_run(1500, marker), {"--summary=" + c.summary(), "--restart-workers=1",
                                                 "--faults.crash=1@100", "--worker-timeout=5"}));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  BOOST_TEST(l.err().find("failed (exit code 5): restarting it (restart 1 of 1)") !=
                 std::string::npos,
             l.report());
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  expect_nothing_left(marker);
}

// Without restarts left, a failed worker stops the run: exit 1, nothing left behind.
BOOST_AUTO_TEST_CASE(a_failed_worker_without_restarts_stops_the_run) {
  cluster c{"launch-worker-fails"};
  const auto marker = c.dir().path().string();
  auto& l = launch(
      c, "launch",
      concat(launched_run(100000, marker), {"--summary=" + c.summary(), "--faults.crash=2@50"}));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->exited);
  BOOST_TEST(s->code == 1);
  BOOST_TEST(l.err().find("failed (exit code 5) and no restart is left (--restart-workers=0): "
                          "stopping the run") != std::string::npos,
             l.report());
  expect_nothing_left(marker);
}

// SIGTERM to the launcher stops the run (the server's exit code, 143); SIGKILL leaves its
// children to die with it (PR_SET_PDEATHSIG).
BOOST_AUTO_TEST_CASE(a_stopped_or_killed_launcher_leaves_no_process_behind) {
  for (int sig : {SIGTERM, SIGKILL}) {
    BOOST_TEST_CONTEXT("signal " << sig) {
      cluster c{"launch-signal"};
      const auto marker = c.dir().path().string();
      auto& l =
          launch(c, "launch", concat(launched_run(1000000, marker), {"--metrics=" + c.metrics()}));
      BOOST_REQUIRE_MESSAGE(c.wait_for_rows(20, 60s) || csv_rows(c.metrics()) >= 20, l.report());
      BOOST_REQUIRE(l.running());
      ::kill(l.pid(), sig); // the launcher alone, not its group
      auto s = l.wait_for(60s);
      BOOST_REQUIRE(s.has_value());
      if (sig == SIGTERM) {
        BOOST_TEST(s->exited, l.report());
        BOOST_TEST(s->code == 128 + SIGTERM, l.report());
      }
      expect_nothing_left(marker);
    }
  }
}

// Errors before anything runs: a bad line of the host file, shards, an option neither
// process takes; and a launch command that cannot be started.
BOOST_AUTO_TEST_CASE(bad_launches_end_with_one_clear_error) {
  cluster c{"launch-errors"};
  const auto marker = c.dir().path().string();
  const auto hosts = c.file("hosts");
  write_text(hosts, "# hosts\nnode-a slots=2\nnode-b slots=zero\n");
  struct bad {
    std::vector<std::string> args;
    int code;
    std::string error;
  };
  const std::vector<bad> cases = {
      {{"--hostfile=" + hosts}, 2, hosts + ":3: slots=zero: expected a number from 1 to 4096"},
      {{"--hostfile=" + hosts, "--servers=2"},
       2,
       hosts + ":3: slots=zero: expected a number from 1 to 4096"},
      {{"--hostfile=" + c.file("none")}, 2, "--hostfile=" + c.file("none") + ": no such file"},
      {{"--servers=0"}, 2, "--servers=0: at least one parameter-server shard is needed"},
      {{"--faults.rejoin=0@5"}, 2, "dsq launch does not use --faults.rejoin=0@5"},
      {{"--server=1.2.3.4:5"}, 2, "dsq launch gives each worker --server itself"},
      {{"--lr=x"}, 2, "command line: invalid value '--lr=x'"},
  };
  int n = 0;
  for (const auto& b : cases) {
    auto& l = launch(c, "bad" + std::to_string(++n), concat(launched_run(10, marker), b.args));
    auto s = l.wait_for(30s);
    BOOST_REQUIRE(s.has_value());
    BOOST_TEST(s->code == b.code, l.report());
    BOOST_TEST(l.err().find("dsq launch: error: " + b.error) != std::string::npos, l.report());
    BOOST_TEST(lines(l.err()).size() == 1u, l.report());
  }
  // A launch command that cannot be started: the server's host is not this one.
  write_text(hosts, "node-a\n");
  auto& l =
      launch(c, "no-template",
             concat(launched_run(10, marker), {"--hostfile=" + hosts, "--workers=1",
                                               "--launch-command=/nonexistent/launcher {host}"}));
  auto s = l.wait_for(30s);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->code == 1, l.report());
  BOOST_TEST(l.err().find("cannot start '/nonexistent/launcher node-a") != std::string::npos,
             l.report());
  // A launch command that starts and fails: the server never says its port.
  auto& f = launch(c, "failing-template",
                   concat(launched_run(10, marker),
                          {"--hostfile=" + hosts, "--workers=1", "--launch-command=false {host}"}));
  s = f.wait_for(30s);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->code == 1, f.report());
  BOOST_TEST(f.err().find("dsq launch: error: the server on node-a ended before it listened "
                          "(exit code 1); it was started with: false node-a") != std::string::npos,
             f.report());
  // --servers=2 with the follower's host behind a failing launch command (the leader and the
  // worker here): the launch names the shard, stops the leader that waits for it, exits 1.
  write_text(hosts, "localhost slots=1\nnode-b slots=1\n");
  auto& k =
      launch(c, "failing-follower",
             concat(sharded_run(100000, marker), {"--hostfile=" + hosts, "--workers=1",
                                                  "--servers=2", "--launch-command=false {host}"}));
  s = k.wait_for(60s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << k.report());
  BOOST_TEST(s->code == 1, k.report());
  BOOST_TEST(k.err().find("dsq launch: error: shard 1 of 2 [server 1@node-b] ended (exit code 1): "
                          "the run cannot go on without its key range") != std::string::npos,
             k.report());
  expect_nothing_left(marker);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(over_network_namespaces)

// The server's host exists, two of the workers' does not: those workers fail at once, the
// launch stops the run that had started and exits 1, leaving nothing.
BOOST_AUTO_TEST_CASE(an_unreachable_host_ends_the_launch_with_nothing_left,
                     *boost::unit_test::precondition(namespaces_available)) {
  cluster c{"launch-unreachable"};
  const auto marker = c.dir().path().string();
  const auto missing = namespace_prefix() + "-missing";
  write_text(c.file("hosts"), "localhost slots=1\n" + missing + " slots=2\n");
  auto& l = launch(c, "launch",
                   concat(launched_run(100000, marker), {"--hostfile=" + c.file("hosts"),
                                                         "--launch-command=ip netns exec {host}"}));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->code == 1, l.report());
  BOOST_TEST(l.err().find("[worker 1@" + missing + "] Cannot open network namespace") !=
                 std::string::npos,
             l.report());
  // Workers 1 and 2 fail at the same moment: the launch stops on whichever end it sees first.
  const auto stopped_on = [&](int worker) {
    return l.err().find("dsq launch: error: [worker " + std::to_string(worker) + "@" + missing +
                        "] failed (exit code 255) and no restart is left") != std::string::npos;
  };
  BOOST_TEST((stopped_on(1) || stopped_on(2)), l.report());
  expect_nothing_left(marker);

  // --servers=2 whose follower's host does not exist (every worker here): the launch names the
  // shard, stops the leader that waits for it and exits 1.
  write_text(c.file("hosts2"), "localhost slots=3\n" + missing + " slots=1\n");
  auto& k =
      launch(c, "launch-k2",
             concat(sharded_run(100000, marker), {"--hostfile=" + c.file("hosts2"), "--servers=2",
                                                  "--launch-command=ip netns exec {host}"}));
  s = k.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << k.report());
  BOOST_TEST(s->code == 1, k.report());
  BOOST_TEST(k.err().find("dsq launch: error: shard 1 of 2 [server 1@" + missing +
                          "] ended (exit code 255): the run cannot go on without its key range") !=
                 std::string::npos,
             k.report());
  expect_nothing_left(marker);
}

/// A launch over three namespaces of `run_of`'s run with checkpoints every 50 steps and
/// `restarts`, and the process that dsq launch names `victim` ("[server]") SIGKILLed mid-run:
/// the launcher says `restarting` and restarts from the checkpoint, and the run ends with the
/// undisturbed launch's model and residual, bit for bit. Returns the killed launch's cluster.
std::unique_ptr<cluster> expect_killed_and_resumed_exactly(
    std::vector<std::string> (*run_of)(std::uint64_t, const std::string&),
    const std::vector<std::string>& restarts, const std::string& victim,
    const std::string& restarting) {
  three_hosts hosts;
  const std::uint64_t steps = 3000, every = 50;
  auto start = [&](cluster& c) -> child_process& {
    write_text(c.file("hosts"), hosts.host_file());
    return launch(c, "launch",
                  concat(concat(run_of(steps, c.dir().path().string()), restarts),
                         {"--hostfile=" + c.file("hosts"), "--launch-command=ip netns exec {host}",
                          "--insecure", "--checkpoint=" + c.file("ckpt"),
                          "--checkpoint-every=" + std::to_string(every), "--metrics=" + c.metrics(),
                          "--summary=" + c.summary()}));
  };
  cluster reference{"launch-reference"};
  auto& r = start(reference);
  auto rs = r.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(rs && rs->success(), r.report());
  const auto ref = dsq::read_checkpoint(reference.file("ckpt"));
  BOOST_REQUIRE_EQUAL(ref.version, steps);

  auto c = std::make_unique<cluster>("launch-sigkill");
  const auto marker = c->dir().path().string();
  auto& l = start(*c);
  BOOST_REQUIRE_MESSAGE(c->wait_for_rows(steps / 5, 60s) || csv_rows(c->metrics()) >= steps / 5,
                        l.report());
  const auto killed = started_pid(l.out(), victim);
  BOOST_REQUIRE_MESSAGE(killed > 0, l.out());
  BOOST_REQUIRE_MESSAGE(csv_rows(c->metrics()) < steps, "the run ended before the kill");
  ::kill(killed, SIGKILL);
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  BOOST_TEST(l.err().find(restarting) != std::string::npos, restarting << "\n" << l.report());
  BOOST_TEST(started_pid(l.out(), victim) != killed);
  BOOST_TEST(c->summary_value("completed").value_or("") == "true");
  const auto final_state = dsq::read_checkpoint(c->file("ckpt"));
  BOOST_TEST(final_state.version == steps);
  BOOST_TEST(same_bits(final_state.model, ref.model),
             "the final model equals the undisturbed run's bit for bit");
  BOOST_TEST(same_bits(final_state.server_residual, ref.server_residual));
  BOOST_TEST(c->summary_value("final_train_loss").value_or("resumed") ==
             reference.summary_value("final_train_loss").value_or("undisturbed"));
  expect_nothing_left(marker);
  return c;
}

// Three namespaces as hosts (server and a worker on the first, a worker on each other), the
// server SIGKILLed mid-run: the launcher restarts it from its checkpoint (--restart-server),
// the workers reconnect with their state, and the run ends like the undisturbed launch.
BOOST_AUTO_TEST_CASE(a_killed_server_is_restarted_from_its_checkpoint_and_the_run_is_exact,
                     *boost::unit_test::precondition(namespaces_available)) {
  const auto c =
      expect_killed_and_resumed_exactly(launched_run, {"--restart-server=1"}, "[server]",
                                        "dsq launch: the server ended (killed by signal 9 "
                                        "(Killed)): restarting it from --checkpoint=");
  BOOST_TEST(c->summary_value("returned_workers").value_or("") == "3");
}

// --servers=2 (the follower on a host of its own), the follower SIGKILLed mid-run: the launcher
// restarts both shards from their last cut (--restart-server; follower k from its own
// DIR/shard-k) and the workers, which cannot go on without a shard (--restart-workers), take
// their seats again; the run ends like the undisturbed sharded launch.
BOOST_AUTO_TEST_CASE(a_killed_shard_restarts_every_shard_from_the_cut_and_the_run_is_exact,
                     *boost::unit_test::precondition(namespaces_available)) {
  expect_killed_and_resumed_exactly(sharded_run,
                                    {"--servers=2", "--restart-server=1", "--restart-workers=3"},
                                    "[server 1@" + namespace_prefix() + "-2]",
                                    "ended (killed by signal 9 (Killed)): restarting every shard "
                                    "from its checkpoint");
}

// --servers=2 over three namespaces: the leader on the first host, the follower on the second
// (bound to and advertising that host's address, where the third host's worker reaches it), a
// worker on each of the first and third. The run equals the unsharded launch on this machine
// bit for bit (fp16 is coordinate-wise). Then the follower SIGKILLed mid-run: the launch exits
// 1 with a line naming the shard, and nothing is left in any namespace.
BOOST_AUTO_TEST_CASE(two_shards_on_hosts_of_their_own_equal_the_run_on_one_machine,
                     *boost::unit_test::precondition(namespaces_available)) {
  three_hosts hosts;
  const std::uint64_t steps = 300;
  cluster here{"launch-k1-here"};
  auto& r = launch(here, "launch",
                   concat(sharded_run(steps, here.dir().path().string()),
                          {"--metrics=" + here.metrics(), "--summary=" + here.summary()}));
  auto rs = r.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(rs && rs->success(), r.report());

  cluster c{"launch-k2-netns"};
  const auto marker = c.dir().path().string();
  write_text(c.file("hosts"), hosts.host_file());
  const auto over_hosts = [&](std::uint64_t n) {
    return concat(sharded_run(n, marker),
                  {"--hostfile=" + c.file("hosts"), "--launch-command=ip netns exec {host}",
                   "--insecure", "--servers=2", "--metrics=" + c.metrics(),
                   "--summary=" + c.summary()});
  };
  auto& l = launch(c, "launch", over_hosts(steps));
  auto s = l.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << l.report());
  BOOST_TEST(s->success(), l.report());
  const auto out = l.out();
  BOOST_TEST(out.find("dsq launch: [server 1@" + hosts.name(1) + "] started on " + hosts.name(1)) !=
                 std::string::npos,
             out);
  BOOST_TEST(out.find("[server 1@" + hosts.name(1) + "] dsq server: shard 1 of 2 listening on " +
                      hosts.address(1) + ":") != std::string::npos,
             out);
  BOOST_TEST(
      out.find("[worker 2@" + hosts.name(2) + "] dsq worker: connected") != std::string::npos, out);
  BOOST_TEST(c.summary_value("shards").value_or("(absent)") == "2");
  for (const char* key : {"final_train_loss", "test_loss", "test_accuracy", "steps", "completed"})
    BOOST_TEST(c.summary_value(key).value_or("over hosts") ==
                   here.summary_value(key).value_or("here"),
               key);
  BOOST_TEST(read_csv(c.metrics()).values("train_loss") ==
                 read_csv(here.metrics()).values("train_loss"),
             boost::test_tools::per_element());
  // Every row carries each shard's bytes and their sums; summed over the rows, each shard's
  // are the summary's.
  const auto metrics = read_csv(c.metrics());
  for (const char* direction : {"up", "down"}) {
    const std::string total = std::string{"bytes_"} + direction;
    std::uint64_t sum[2] = {0, 0};
    for (std::size_t r = 0; r < metrics.rows.size(); ++r) {
      const auto a = std::stoull(metrics.at(r, total + "_0"));
      const auto b = std::stoull(metrics.at(r, total + "_1"));
      BOOST_TEST(std::stoull(metrics.at(r, total)) == a + b, total << " of row " << r);
      sum[0] += a;
      sum[1] += b;
    }
    BOOST_TEST(sum[1] > 0u, "the follower moved bytes");
    const auto summary = read_text(c.summary());
    const auto key = "\"shard_" + total + "\": [";
    const auto at = summary.find(key);
    BOOST_REQUIRE(at != std::string::npos);
    const auto list = summary.substr(at + key.size(), summary.find(']', at) - at - key.size());
    BOOST_TEST(list == std::to_string(sum[0]) + ", " + std::to_string(sum[1]), total);
  }
  expect_nothing_left(marker);

  // The follower killed mid-run.
  std::filesystem::remove(c.metrics());
  auto& k = launch(c, "killed", over_hosts(1000000));
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(20, 60s) || csv_rows(c.metrics()) >= 20, k.report());
  const auto follower = started_pid(k.out(), "[server 1@" + hosts.name(1) + "]");
  BOOST_REQUIRE_MESSAGE(follower > 0, k.out());
  ::kill(follower, SIGKILL);
  s = k.wait_for(launch_timeout);
  BOOST_REQUIRE_MESSAGE(s.has_value(), "dsq launch did not end:\n" << k.report());
  BOOST_TEST(s->exited, k.report());
  BOOST_TEST(s->code == 1, k.report());
  BOOST_TEST(k.err().find("shard 1 of 2 [server 1@" + hosts.name(1) +
                          "] ended (killed by signal 9") != std::string::npos,
             k.report());
  expect_nothing_left(marker);
}

BOOST_AUTO_TEST_SUITE_END()
