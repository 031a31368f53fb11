// dsq launch without processes (config/launch/): the host file, the placement plan, the command
// lines of the launch command template, and the port read from the server's line.
#define BOOST_TEST_MODULE launch_plan
#include <boost/test/unit_test.hpp>

#include "config/launch/host_file.hpp"
#include "config/launch/launch_command.hpp"
#include "config/launch/launch_plan.hpp"
#include "config/run_config.hpp"

#include <string>
#include <vector>

using namespace dsq;

namespace {

/// The message of the config_error that `f` throws ("" if it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  return {};
}

std::vector<std::string> hosts_of(const launch_plan& plan) {
  std::vector<std::string> names;
  for (const auto& w : plan.workers)
    names.push_back(w.host);
  return names;
}

} // namespace

BOOST_AUTO_TEST_SUITE(host_file)

BOOST_AUTO_TEST_CASE(reads_hosts_slots_addresses_comments_and_blank_lines) {
  auto hosts = parse_host_file("# the cluster\n"
                               "\n"
                               "node-a slots=2 address=10.0.0.1\n"
                               "  node-b   # one slot\n"
                               "node-c slots=3\r\n"
                               "localhost slots=1\n",
                               "hosts.txt");
  BOOST_REQUIRE_EQUAL(hosts.size(), 4u);
  BOOST_TEST(hosts[0].name == "node-a");
  BOOST_TEST(hosts[0].slots == 2);
  BOOST_TEST(hosts[0].address == "10.0.0.1");
  BOOST_TEST(hosts[0].line == 3);
  BOOST_TEST(hosts[1].name == "node-b");
  BOOST_TEST(hosts[1].slots == 1);
  BOOST_TEST(hosts[1].address == "node-b"); // the name, unless address= says otherwise
  BOOST_TEST(hosts[2].slots == 3);
  BOOST_TEST(hosts[3].address == "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(a_bad_line_is_refused_with_file_line_and_what_is_wrong) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a\nb slots=0\n", "hosts:2: slots=0: expected a number from 1 to 4096"},
      {"a slots=x\n", "hosts:1: slots=x: expected a number"},
      {"a slots=2 slots=3\n", "hosts:1: slots given twice"},
      {"a cpus=4\n", "hosts:1: unknown key 'cpus'"},
      {"a 4\n", "hosts:1: '4': expected key=value"},
      {"slots=4\n", "hosts:1: 'slots=4' is not a host name"},
      {"a;rm slots=1\n", "hosts:1: 'a;rm' is not a host name"},
      {"a address=x;y\n", "hosts:1: address=x;y: not a host name"},
      {"a\n\nb\na slots=2\n", "hosts:4: host a is already on line 1"},
      {"# nothing\n\n", "hosts: no hosts"},
  };
  for (const auto& [text, expected] : cases)
    BOOST_TEST(error_of([&] { parse_host_file(text, "hosts"); }).find(expected) == 0u,
               "'" << text << "' gave '" << error_of([&] { parse_host_file(text, "hosts"); })
                   << "', expected '" << expected << "'");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_named) {
  BOOST_TEST(error_of([] { read_host_file("/nonexistent/hosts"); }) ==
             "--hostfile=/nonexistent/hosts: no such file");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(placement)

BOOST_AUTO_TEST_CASE(without_a_host_file_everything_runs_here) {
  auto plan = make_launch_plan({}, {.workers = 3});
  BOOST_REQUIRE_EQUAL(plan.servers.size(), 1u);
  BOOST_TEST(plan.servers[0].local);
  BOOST_TEST(plan.servers[0].prefix() == "[server]");
  BOOST_TEST(plan.server_address == "127.0.0.1");
  BOOST_REQUIRE_EQUAL(plan.workers.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(plan.workers[i].local);
    BOOST_TEST(plan.workers[i].index == i);
  }
  BOOST_TEST(plan.workers[2].prefix() == "[worker 2@localhost]");
}

BOOST_AUTO_TEST_CASE(server_on_the_first_host_workers_fill_slots_in_order) {
  auto hosts = parse_host_file("a slots=1 address=10.0.0.1\nb slots=2\nlocalhost slots=2\n", "h");
  auto plan = make_launch_plan(hosts, {.workers = 4});
  BOOST_TEST(plan.servers[0].host == "a");
  BOOST_TEST(!plan.servers[0].local);
  BOOST_TEST(plan.server_address == "10.0.0.1");
  BOOST_TEST((hosts_of(plan) == std::vector<std::string>{"a", "b", "b", "localhost"}));
  BOOST_TEST(!plan.workers[1].local);
  BOOST_TEST(plan.workers[3].local); // localhost: started directly, no launch command
  BOOST_TEST(plan.workers[1].prefix() == "[worker 1@b]");
}

BOOST_AUTO_TEST_CASE(more_workers_than_slots_needs_oversubscribe) {
  auto hosts = parse_host_file("a slots=1\nb slots=2\n", "h");
  BOOST_TEST(error_of([&] { make_launch_plan(hosts, {.workers = 4}); }) ==
             "--workers=4: the host file has 3 slots; add hosts or slots, or allow it with "
             "--oversubscribe");
  auto plan = make_launch_plan(hosts, {.workers = 5, .oversubscribe = true});
  BOOST_TEST((hosts_of(plan) == std::vector<std::string>{"a", "b", "b", "a", "b"}));
}

BOOST_AUTO_TEST_CASE(without_a_host_file_every_shard_runs_here_with_shard_0_first) {
  auto plan = make_launch_plan({}, {.workers = 2, .servers = 3});
  BOOST_REQUIRE_EQUAL(plan.servers.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    BOOST_TEST(plan.servers[k].index == k);
    BOOST_TEST(plan.servers[k].local);
  }
  BOOST_TEST(plan.servers[0].prefix() == "[server]");
  BOOST_TEST(plan.servers[2].prefix() == "[server 2@localhost]");
  BOOST_TEST(error_of([] {
               make_launch_plan({}, {.workers = 2, .servers = 0});
             }).find("--servers=0") == 0u);
  BOOST_TEST(error_of([] { make_launch_plan({}, {.workers = 0}); }).find("--workers=0") == 0u);
}

/// The hosts the plan's shards run on, in shard order.
std::vector<std::string> shard_hosts(const launch_plan& plan) {
  std::vector<std::string> out;
  for (const auto& p : plan.servers)
    out.push_back(p.host);
  return out;
}

BOOST_AUTO_TEST_CASE(shard_k_runs_on_host_k_mod_h_reached_at_its_address) {
  auto hosts = parse_host_file(
      "a slots=1 address=10.0.0.1\nb slots=2 address=10.0.0.2\nlocalhost slots=1\n", "h");
  auto plan = make_launch_plan(hosts, {.workers = 4, .servers = 3});
  BOOST_TEST((shard_hosts(plan) == std::vector<std::string>{"a", "b", "localhost"}));
  BOOST_TEST(plan.servers[1].address == "10.0.0.2");
  BOOST_TEST(!plan.servers[1].local);
  BOOST_TEST(plan.servers[2].address == "127.0.0.1");
  BOOST_TEST(plan.servers[2].local);
  BOOST_TEST(plan.servers[1].prefix() == "[server 1@b]");
  BOOST_TEST(plan.server_address == "10.0.0.1"); // the workers register with the leader
  // The shards take no slot: the workers fill the slots as with one server.
  BOOST_TEST((hosts_of(plan) == std::vector<std::string>{"a", "b", "b", "localhost"}));
  BOOST_TEST(plan.workers[1].address == "10.0.0.2");
}

BOOST_AUTO_TEST_CASE(each_shard_resumes_from_a_directory_of_its_own) {
  BOOST_TEST(shard_checkpoint_dir("/ck", 0) == "/ck");
  BOOST_TEST(shard_checkpoint_dir("/ck", 2) == "/ck/shard-2");
  BOOST_TEST(shard_checkpoint_dir("ck/", 1) == "ck/shard-1");
}

BOOST_AUTO_TEST_CASE(more_shards_than_hosts_take_the_hosts_in_turn) {
  auto hosts = parse_host_file("a slots=2\nb slots=2\n", "h");
  auto plan = make_launch_plan(hosts, {.workers = 2, .servers = 5});
  BOOST_TEST((shard_hosts(plan) == std::vector<std::string>{"a", "b", "a", "b", "a"}));
  BOOST_TEST(plan.servers[3].address == "b"); // the name, without address=
  BOOST_TEST((hosts_of(plan) == std::vector<std::string>{"a", "a"}));
  // One host: every shard on it, as before.
  auto one = make_launch_plan(parse_host_file("solo slots=4\n", "h"), {.workers = 4, .servers = 3});
  BOOST_TEST((shard_hosts(one) == std::vector<std::string>{"solo", "solo", "solo"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(launch_command)

BOOST_AUTO_TEST_CASE(words_are_quoted_only_when_a_shell_would_change_them) {
  BOOST_TEST(shell_quote("--dataset=synthetic:n=300,d=2") == "--dataset=synthetic:n=300,d=2");
  BOOST_TEST(shell_quote("/opt/dsq/bin/dsq") == "/opt/dsq/bin/dsq");
  BOOST_TEST(shell_quote("--metrics=my run.csv") == "'--metrics=my run.csv'");
  BOOST_TEST(shell_quote("it's") == "'it'\\''s'");
  BOOST_TEST(shell_quote("$HOME;x") == "'$HOME;x'");
  BOOST_TEST(shell_quote("") == "''");
  BOOST_TEST(shell_command_line({"dsq", "worker", "a b"}) == "dsq worker 'a b'");
}

BOOST_AUTO_TEST_CASE(the_template_splits_like_a_shell_and_needs_host) {
  BOOST_TEST((split_launch_template("ssh {host}") == std::vector<std::string>{"ssh", "{host}"}));
  BOOST_TEST((split_launch_template("ssh -o 'ConnectTimeout=5' \"{host}\"  ") ==
              std::vector<std::string>{"ssh", "-o", "ConnectTimeout=5", "{host}"}));
  BOOST_TEST((split_launch_template("a\\ b {host}") == std::vector<std::string>{"a b", "{host}"}));
  BOOST_TEST(error_of([] { split_launch_template("ssh 'x"); }).find("unbalanced '") !=
             std::string::npos);
  BOOST_TEST(error_of([] { split_launch_template("   "); }).find("is empty") != std::string::npos);
  BOOST_TEST(error_of([] { split_launch_template("ssh"); }).find("names no {host}") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(remote_command_lines) {
  const std::vector<std::string> command{"/bin/dsq", "worker", "--metrics=a b"};
  BOOST_TEST((remote_argv(split_launch_template("ssh {host}"), "n1", command) ==
              std::vector<std::string>{"ssh", "n1", "/bin/dsq", "worker", "'--metrics=a b'"}));
  BOOST_TEST((remote_argv(split_launch_template("ip netns exec {host}"), "ns1", {"/bin/dsq"}) ==
              std::vector<std::string>{"ip", "netns", "exec", "ns1", "/bin/dsq"}));
  BOOST_TEST((remote_argv(split_launch_template("ssh -p 22 user@{host}.lan"), "n1", {"x"}) ==
              std::vector<std::string>{"ssh", "-p", "22", "user@n1.lan", "x"}));
  // {command}: the whole command line as one word, for a shell started by the template.
  BOOST_TEST(
      (remote_argv(split_launch_template("ip netns exec {host} sh -c {command}"), "ns1", command) ==
       std::vector<std::string>{"ip", "netns", "exec", "ns1", "sh", "-c",
                                "/bin/dsq worker '--metrics=a b'"}));
}

BOOST_AUTO_TEST_CASE(the_port_of_the_servers_line) {
  BOOST_TEST(listening_port("dsq server: listening on 127.0.0.1:4242, waiting for 3 workers")
                 .value_or(0) == 4242);
  BOOST_TEST(listening_port("dsq server: listening on ::1:80, waiting for 1 workers").value_or(0) ==
             80);
  BOOST_TEST(!listening_port("worker 0: step 10/100"));
  BOOST_TEST(!listening_port("dsq server: listening on 127.0.0.1:0, waiting"));
  BOOST_TEST(!listening_port("dsq server: listening on 127.0.0.1:99999, waiting"));
}

BOOST_AUTO_TEST_SUITE_END()
