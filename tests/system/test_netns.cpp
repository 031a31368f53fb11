// A server and its workers in two network namespaces joined by a veth pair: dsq over a real
// (virtual) link with addresses of its own, not loopback. Needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN); without it the test is skipped with a message saying so.
#define BOOST_TEST_MODULE dsq_system_netns
#include <boost/test/unit_test.hpp>

#include "system_support.hpp"

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

} // namespace

BOOST_AUTO_TEST_CASE(server_and_workers_in_two_namespaces_over_veth,
                     *boost::unit_test::precondition(namespaces_available)) {
  namespace_pair ns;
  for (const auto& name : {ns.a, ns.b}) {
    auto err = ns.add(name);
    BOOST_REQUIRE_MESSAGE(err.empty(), "ip netns add " << name << ": " << err);
  }
  // Addresses the test assigns itself, inside its own namespaces only.
  const auto pid = std::to_string(::getpid());
  const auto net = "10.213." + std::to_string(1 + ::getpid() % 250) + ".";
  const auto veth_a = "dsq" + pid + "a", veth_b = "dsq" + pid + "b";
  ns.run(
      {"-n", ns.a, "link", "add", veth_a, "type", "veth", "peer", "name", veth_b, "netns", ns.b});
  ns.run({"-n", ns.a, "addr", "add", net + "1/24", "dev", veth_a});
  ns.run({"-n", ns.b, "addr", "add", net + "2/24", "dev", veth_b});
  for (const auto& [space, dev] : {std::pair{ns.a, veth_a}, std::pair{ns.b, veth_b}}) {
    ns.run({"-n", space, "link", "set", "lo", "up"});
    ns.run({"-n", space, "link", "set", dev, "up"});
  }

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
