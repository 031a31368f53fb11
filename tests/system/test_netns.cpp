// A server and its workers in two network namespaces joined by a veth pair: dsq over a real
// (virtual) link with addresses of its own, not loopback. Needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN); without it the test is skipped with a message saying so.
#define BOOST_TEST_MODULE dsq_system_netns
#include <boost/test/unit_test.hpp>

#include "system_support.hpp"
#include "tls_support.hpp"

#include <csignal>
#include <cstdlib>

using namespace dsq::system_test;

namespace {

/// Runs `ip args...`; its exit status (nullopt: it did not end within 10 s, or is missing).
std::optional<exit_status> ip(const std::vector<std::string>& args, const temp_dir& logs,
                              std::string* err = nullptr) {
  static int count = 0;
  try {
    child_process p{concat({"ip"}, args), logs.path(), "ip" + std::to_string(++count)};
    auto s = p.wait_for(10s);
    if (err)
      *err = p.err();
    return s;
  } catch (const std::exception& e) {
    if (err)
      *err = e.what();
    return std::nullopt;
  }
}

std::string prefix() {
  return "dsq-test-" + std::to_string(::getpid());
}

/// Two namespaces, deleted (with the veth pair inside them) when this goes out of scope.
class namespace_pair {
public:
  namespace_pair() : a{prefix() + "-a"}, b{prefix() + "-b"} {}
  ~namespace_pair() {
    for (const auto& ns : created_) {
      auto s = ip({"netns", "delete", ns}, logs_);
      if (!s || !s->success())
        std::cerr << "could not delete network namespace " << ns << "\n";
    }
  }
  namespace_pair(const namespace_pair&) = delete;
  namespace_pair& operator=(const namespace_pair&) = delete;

  /// `ip netns add name`; the error text on failure.
  std::string add(const std::string& name) {
    std::string err;
    auto s = ip({"netns", "add", name}, logs_, &err);
    if (s && s->success()) {
      created_.push_back(name);
      return {};
    }
    return err.empty() ? std::string{"ip netns add failed"} : err;
  }

  void run(const std::vector<std::string>& args) {
    std::string err;
    auto s = ip(args, logs_, &err);
    std::string line;
    for (const auto& a : args)
      line += " " + a;
    BOOST_REQUIRE_MESSAGE(s && s->success(), "ip" << line << " failed: " << err);
  }

  const std::string a, b;

private:
  temp_dir logs_{"netns-ip"};
  std::vector<std::string> created_;
};

/// Precondition: can this process create a network namespace?
boost::test_tools::assertion_result namespaces_available(boost::unit_test::test_unit_id) {
  temp_dir logs{"netns-probe"};
  const auto probe = prefix() + "-probe";
  std::string err;
  auto s = ip({"netns", "add", probe}, logs, &err);
  if (!s || !s->success()) {
    auto why = "SKIPPED: cannot create a network namespace (needs root and iproute2): " +
               (lines(err).empty() ? std::string{"ip netns add failed"} : lines(err).front());
    std::cerr << "test_system_netns: " << why << "\n";
    boost::test_tools::assertion_result r{false};
    r.message() << why;
    return r;
  }
  ip({"netns", "delete", probe}, logs);
  return true;
}

/// Namespaces a (the server's) and b (the workers') joined by a veth pair, addresses
/// `net`1 and `net`2; the test's own, deleted with `ns`.
struct veth_link {
  std::string net, veth_a, veth_b;

  explicit veth_link(namespace_pair& ns) {
    for (const auto& name : {ns.a, ns.b}) {
      auto err = ns.add(name);
      BOOST_REQUIRE_MESSAGE(err.empty(), "ip netns add " << name << ": " << err);
    }
    // Addresses the test assigns itself, inside its own namespaces only.
    const auto pid = std::to_string(::getpid());
    net = "10.213." + std::to_string(1 + ::getpid() % 250) + ".";
    veth_a = "dsq" + pid + "a";
    veth_b = "dsq" + pid + "b";
    ns.run(
        {"-n", ns.a, "link", "add", veth_a, "type", "veth", "peer", "name", veth_b, "netns", ns.b});
    ns.run({"-n", ns.a, "addr", "add", net + "1/24", "dev", veth_a});
    ns.run({"-n", ns.b, "addr", "add", net + "2/24", "dev", veth_b});
    for (const auto& [space, dev] : {std::pair{ns.a, veth_a}, std::pair{ns.b, veth_b}}) {
      ns.run({"-n", space, "link", "set", "lo", "up"});
      ns.run({"-n", space, "link", "set", dev, "up"});
    }
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(server_and_workers_in_two_namespaces_over_veth,
                     *boost::unit_test::precondition(namespaces_available)) {
  namespace_pair ns;
  const veth_link link{ns};
  const auto& net = link.net;

  // The workers can reach the server only over the veth pair: namespace b has no other
  // route to 10.213.x.1, and the server listens on nothing else.
  const std::uint64_t steps = 300;
  {
    cluster c{"netns"}; // its processes end before the namespaces go
    // A veth address is not loopback: without TLS the server needs --insecure to bind it.
    c.start_server(concat(tiny_run(steps), {"--workers=2", "--insecure"}), net + "1",
                   {"ip", "netns", "exec", ns.a});
    BOOST_TEST(c.address() == net + "1:" + std::to_string(c.port()));
    auto& w1 = c.start_worker({}, {"ip", "netns", "exec", ns.b});
    auto& w2 = c.start_worker({}, {"ip", "netns", "exec", ns.b});
    BOOST_REQUIRE_MESSAGE(c.wait_all(90s), "the run did not end in time");
    BOOST_TEST(c.server().status()->success());
    BOOST_TEST(w1.status()->success());
    BOOST_TEST(w2.status()->success());
    BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
    BOOST_TEST(c.summary_value("completed").value_or("") == "true");
    BOOST_TEST(c.summary_value("workers").value_or("") == "2");
    BOOST_TEST(c.summary_value("steps").value_or("") == std::to_string(steps));
  }
}

// The run's last update and the farewell behind it take longer to cross a slow link than the
// 2 s a finished server used to wait: it quit with the farewell still in its middleman's
// buffers, and the workers spent --reconnect-timeout looking for it, then failed. A server now
// waits while its workers send heartbeats.
BOOST_AUTO_TEST_CASE(a_finished_server_waits_while_a_slow_link_still_carries_its_farewell,
                     *boost::unit_test::precondition(namespaces_available)) {
  namespace_pair ns;
  const veth_link link{ns};
  // 100 kB/s from the server: the final update of 50 010 floats to each of two workers (400 kB)
  // takes about 4 s.
  ns.run({"netns", "exec", ns.a, "tc", "qdisc", "add", "dev", link.veth_a, "root", "tbf", "rate",
          "800kbit", "burst", "32kb", "latency", "500ms"});
  {
    cluster c{"netns-slow"};
    c.start_server({"--dataset=synthetic:n=2000,d=5000,classes=10", "--model=softmax",
                    "--method=sgd", "--steps=1", "--eval-every=0", "--workers=2", "--insecure"},
                   link.net + "1", {"ip", "netns", "exec", ns.a});
    // A worker that lost its server would fail after 5 s of trying to reach it again.
    auto& w1 = c.start_worker({"--reconnect-timeout=5"}, {"ip", "netns", "exec", ns.b});
    auto& w2 = c.start_worker({"--reconnect-timeout=5"}, {"ip", "netns", "exec", ns.b});
    BOOST_REQUIRE_MESSAGE(c.wait_all(90s), "the run did not end in time");
    BOOST_TEST(c.server().status()->success());
    BOOST_TEST(c.server().out().find("still receiving the end of the run") != std::string::npos,
               "the server did not wait:\n"
                   << c.server().report());
    BOOST_TEST(w1.status()->success(), w1.report());
    BOOST_TEST(w2.status()->success(), w2.report());
    BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  }
}

// SIGTERM stops a run; a second one, while the stopped server waits for the goodbyes of workers
// that are still receiving over a slow link, ends that wait.
BOOST_AUTO_TEST_CASE(a_second_signal_ends_the_wait_for_goodbyes,
                     *boost::unit_test::precondition(namespaces_available)) {
  namespace_pair ns;
  const veth_link link{ns};
  auto shape = [&](const char* verb, const char* rate) {
    ns.run({"netns", "exec", ns.a, "tc", "qdisc", verb, "dev", link.veth_a, "root", "tbf", "rate",
            rate, "burst", "32kb", "latency", "500ms"});
  };
  shape("add", "800kbit");
  {
    cluster c{"netns-signal"};
    auto& server = c.start_server({"--dataset=synthetic:n=2000,d=5000,classes=10",
                                   "--model=softmax", "--method=sgd", "--steps=1000000",
                                   "--eval-every=0", "--workers=2", "--insecure"},
                                  link.net + "1", {"ip", "netns", "exec", ns.a});
    auto& w1 = c.start_worker({"--reconnect-timeout=5"}, {"ip", "netns", "exec", ns.b});
    auto& w2 = c.start_worker({"--reconnect-timeout=5"}, {"ip", "netns", "exec", ns.b});
    BOOST_REQUIRE(w1.wait_for_output("joined", 60s));
    BOOST_REQUIRE(w2.wait_for_output("joined", 60s));
    // Both have the model: from now on an update (400 kB to the two) takes about 16 s.
    shape("change", "200kbit");
    server.send_signal(SIGTERM);
    BOOST_REQUIRE_MESSAGE(server.wait_for_output("still receiving the end of the run", 60s),
                          server.report());
    server.send_signal(SIGTERM);
    auto status = server.wait_for(6s); // the workers would keep it 10 s more
    BOOST_REQUIRE_MESSAGE(status, "the server still waits:\n" << server.report());
    BOOST_TEST(stopped_by_sigterm(*status), server.report());
    BOOST_TEST(c.summary_value("note").value_or("").find("stopped at step") != std::string::npos);
  }
}

// Over TLS between the two namespaces, two workers without the server's data: one started in
// an empty directory with --data=server, one whose copy of the CSV file is corrupt (--data=auto,
// the default). Both get the training set from the server through the TLS connection, check its
// fingerprint and train; the run completes.
BOOST_AUTO_TEST_CASE(workers_in_another_namespace_get_the_data_over_tls,
                     *boost::unit_test::precondition(namespaces_available)) {
  namespace_pair ns;
  const veth_link link{ns};
  temp_dir servers{"netns-data-server"}, corrupt{"netns-data-corrupt"}, empty{"netns-empty"};
  std::string csv = "label,a,b\n", changed = csv;
  for (int i = 0; i < 600; ++i) {
    const auto row = std::to_string(i % 3) + "," + std::to_string(i % 3 + (i % 7) * 0.1) + "," +
                     std::to_string((i % 5) * 0.2) + "\n";
    csv += row;
    changed += i == 17 ? std::string{"0,5.5,0.4\n"} : row;
  }
  write_text(servers.path() / "points.csv", csv);
  write_text(corrupt.path() / "points.csv", changed);
  {
    cluster c{"netns-tls-data"};
    const auto certs = c.file("certs");
    make_certs(c, certs, 2, link.net + "1");
    c.start_server(
        concat({"--dataset=csv:path=points.csv,label=first", "--model=softmax", "--steps=50",
                "--eval-every=0", "--workers=2", "--data-dir=" + servers.path().string()},
               tls_options(certs, "server")),
        link.net + "1", {"ip", "netns", "exec", ns.a});
    const auto in_b = std::vector<std::string>{"ip", "netns", "exec", ns.b};
    auto& fresh =
        c.start_worker(concat({"--data=server"}, tls_options(certs, "worker-1")),
                       concat(in_b, {"env", "-C", empty.path().string(),
                                     "DSQ_SOURCE_DIR=" + empty.path().string(), "DSQ_DATA_DIR="}));
    auto& mended = c.start_worker(
        concat({"--data-dir=" + corrupt.path().string()}, tls_options(certs, "worker-2")), in_b);
    BOOST_REQUIRE_MESSAGE(c.wait_all(90s), "the run did not end in time");
    BOOST_TEST(c.server().status()->success(), c.server().report());
    for (auto* w : {&fresh, &mended}) {
      BOOST_TEST(w->status()->success(), w->report());
      BOOST_TEST(w->out().find("got the training set from the server") != std::string::npos,
                 w->report());
    }
    BOOST_TEST(mended.out().find("this worker's data differs from the server's") !=
                   std::string::npos,
               mended.report());
    BOOST_TEST(c.summary_value("completed").value_or("") == "true");
    BOOST_TEST(c.summary_value("steps").value_or("") == "50");
  }
}
