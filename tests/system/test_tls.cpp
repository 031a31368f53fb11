// `dsq server` and `dsq worker` over TLS with certificates on both sides (CAF's OpenSSL module):
// certificates made by scripts/make-certs.sh, peers without a certificate of the cluster's CA
// refused in the handshake, a TLS run equal to a plaintext run, a forged transport header
// refused without allocating (from a stranger, and from an authenticated peer), strangers'
// bad connections leaving the workers' alone, an authenticated peer's undecodable message
// closing only its own connection, an authenticated peer's replay and probe floods expelled
// with the server's memory bounded, and the server's refusal to listen beyond loopback without
// TLS.
#define BOOST_TEST_MODULE dsq_system_tls
#include <boost/test/unit_test.hpp>

#include "raw_peer.hpp"
#include "system_support.hpp"
#include "tls_support.hpp"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <utility>

#ifndef DSQ_ATTACK_CLIENT
#error "DSQ_ATTACK_CLIENT must name the attack_client executable (tests/system/CMakeLists.txt)"
#endif

using namespace dsq::system_test;

namespace {

constexpr auto run_timeout = 90s;

/// A TLS server of a 1-worker run of `steps`, with certificates for it and `workers` workers
/// made in `c`'s directory "certs".
child_process& start_tls_server(cluster& c, std::uint64_t steps, int workers) {
  const auto certs = c.file("certs");
  make_certs(c, certs, workers);
  return c.start_server(concat(concat(tiny_run(static_cast<int>(steps)), {"--workers=1"}),
                               tls_options(certs, "server")));
}

/// Starts worker-1 of `c`'s "certs" and requires the run of start_tls_server to complete with
/// it: every step written, server and worker exit 0.
void expect_completed_with_worker_1(cluster& c, child_process& server, std::uint64_t steps) {
  auto& member = c.start_worker(concat({"--quiet"}, tls_options(c.file("certs"), "worker-1")));
  BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the run did not end in time");
  BOOST_TEST(server.status()->success(), server.report());
  BOOST_TEST(member.status()->success(), member.report());
  BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
}

/// A worker that must be turned away: it exits non-zero, soon, with one `dsq: error:` line
/// that contains `expected`.
void expect_refused(child_process& w, const std::string& expected) {
  auto s = w.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), w.name() << " was not turned away:\n" << w.report());
  BOOST_TEST(s->exited, s->describe());
  BOOST_TEST(s->code != 0, w.name() << " exited 0:\n" << w.report());
  auto errors = lines(w.err());
  BOOST_REQUIRE_MESSAGE(!errors.empty(), w.report());
  BOOST_TEST(errors.back().rfind("dsq: error:", 0) == 0u, errors.back());
  BOOST_TEST(errors.back().find(expected) != std::string::npos, errors.back());
}

/// Runs `dsq args...` to its end (it must end by itself within 30 s).
exit_status run_dsq(cluster& c, const std::string& name, const std::vector<std::string>& args) {
  auto& p = c.start(name, concat({dsq_binary()}, args));
  auto s = p.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), name << " did not end:\n" << p.report());
  return *s;
}

std::string last_error(cluster& c, const std::string& name) {
  (void)c;
  auto file = c.file(name + ".err");
  auto errors = lines(read_text(file));
  return errors.empty() ? std::string{} : errors.back();
}

} // namespace

BOOST_AUTO_TEST_SUITE(handshake)

BOOST_AUTO_TEST_CASE(workers_without_a_certificate_of_the_ca_are_refused_one_with_it_trains) {
  const std::uint64_t steps = 100;
  cluster c{"tls-refuse"};
  const auto certs = c.file("certs"), other = c.file("other");
  make_certs(c, certs, 1);
  make_certs(c, other, 1);
  c.start_server(concat(concat(tiny_run(steps), {"--workers=1"}), tls_options(certs, "server")));

  // A certificate signed by another CA: the server refuses it during the TLS handshake.
  auto& stranger =
      c.start_worker(concat({"--connect-timeout=5"}, tls_options(other, "worker-1", certs)));
  expect_refused(stranger, "during the handshake");
  // No certificate at all, and no TLS: the server's handshake never completes for it.
  auto& plain = c.start_worker({"--connect-timeout=3"});
  expect_refused(plain, c.address());
  BOOST_TEST(c.server().running());
  BOOST_TEST(csv_rows(c.metrics()) == 0u, "nobody was admitted, so training has not started");

  auto& member = c.start_worker(tls_options(certs, "worker-1"));
  BOOST_REQUIRE_MESSAGE(c.server().wait_for(run_timeout).has_value(), "the run did not end");
  BOOST_TEST(c.server().status()->success(), c.server().report());
  auto s = member.wait_for(30s);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(s->success(), member.report());
  BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  BOOST_TEST(c.summary_value("workers").value_or("") == "1");
  BOOST_TEST(c.summary_value("joins").value_or("") == "0");
}

BOOST_AUTO_TEST_CASE(a_server_with_a_certificate_of_another_ca_is_refused_by_the_worker) {
  cluster c{"tls-impostor"};
  const auto certs = c.file("certs"), other = c.file("other");
  make_certs(c, certs, 1);
  make_certs(c, other, 1);
  // The impostor trusts the cluster's CA, so only the worker's check can turn it down.
  c.start_server(
      concat(concat(tiny_run(100), {"--workers=1"}), tls_options(other, "server", certs)));
  auto& w = c.start_worker(concat({"--connect-timeout=5"}, tls_options(certs, "worker-1")));
  expect_refused(w, "during the handshake");
  BOOST_TEST(csv_rows(c.metrics()) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(same_run)

// Encryption changes the bytes on the wire, not the messages: every column but the wall clock
// and the summary's final figures are equal, as printed.
BOOST_AUTO_TEST_CASE(a_tls_run_equals_the_plaintext_run_bit_for_bit) {
  const auto config = concat(tiny_run(200), {"--workers=2", "--quiet"});
  cluster plain{"tls-plain"};
  plain.start_server(config);
  plain.start_worker({"--quiet"});
  plain.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(plain.wait_all(run_timeout), "the plaintext run did not end in time");
  BOOST_REQUIRE(plain.server().status()->success());

  cluster tls{"tls-same"};
  const auto certs = tls.file("certs");
  make_certs(tls, certs, 2);
  tls.start_server(concat(config, tls_options(certs, "server")));
  auto& w1 = tls.start_worker(concat({"--quiet"}, tls_options(certs, "worker-1")));
  auto& w2 = tls.start_worker(concat({"--quiet"}, tls_options(certs, "worker-2")));
  BOOST_REQUIRE_MESSAGE(tls.wait_all(run_timeout), "the TLS run did not end in time");
  BOOST_TEST(tls.server().status()->success(), tls.server().report());
  BOOST_TEST(w1.status()->success(), w1.report());
  BOOST_TEST(w2.status()->success(), w2.report());

  auto a = read_csv(plain.metrics()), b = read_csv(tls.metrics());
  BOOST_REQUIRE_EQUAL(a.rows.size(), 201u);
  BOOST_REQUIRE_EQUAL(b.rows.size(), a.rows.size());
  BOOST_TEST(a.header == b.header, boost::test_tools::per_element());
  for (const auto& column : a.header) {
    if (column == "wall_s")
      continue;
    BOOST_TEST_CONTEXT("column " << column) {
      BOOST_TEST(a.values(column) == b.values(column), boost::test_tools::per_element());
    }
  }
  for (const char* key : {"final_train_loss", "test_loss", "test_accuracy", "bytes_up",
                          "bytes_down", "steps", "completed"})
    BOOST_TEST(plain.summary_value(key).value_or("(absent)") ==
                   tls.summary_value(key).value_or("(absent)"),
               "summary " << key);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(strangers)

// Plain CAF allocates whatever payload a transport header announces (tests/system/
// test_attacks.cpp notes how much); over TLS a stranger never gets past the TLS handshake.
BOOST_AUTO_TEST_CASE(a_forged_1_gib_header_on_the_tls_port_is_refused_without_allocating) {
  const std::uint64_t steps = 100;
  cluster c{"tls-header"};
  auto& server = start_tls_server(c, steps, 1);
  const long before = peak_resident_kib(server.pid());
  BOOST_REQUIRE(before > 0);
  {
    raw_peer attacker{c.port()};
    attacker.send(forged_transport_header(1u << 30));
    BOOST_TEST(attacker.wait_closed(10s), "the server closed the connection");
  }
  const long after = peak_resident_kib(server.pid());
  BOOST_TEST_MESSAGE("server VmHWM (peak VmRSS) " << before << " KiB before, " << after
                                                  << " KiB after");
  BOOST_TEST(after - before < 32 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(server.running());

  expect_completed_with_worker_1(c, server, steps);
}

// OpenSSL keeps its errors per thread, and every connection of a process runs in the
// middleman's one thread: a stranger's failed handshake left its errors there, the next read
// of every authenticated connection failed on them, and every worker lost the server (issue
// 29). Each OpenSSL call of dsq's TLS connections now starts and ends with an empty error
// queue (net/transport/screened_tls.cpp). Three strangers while two workers train: an HTTP request,
// random bytes, and the first 5 bytes of a ClientHello held open while the run goes on.
BOOST_AUTO_TEST_CASE(a_strangers_bad_connections_leave_the_authenticated_workers_alone) {
  cluster c{"tls-junk"};
  const auto certs = c.file("certs");
  make_certs(c, certs, 2);
  auto& server = c.start_server(
      concat(concat(tiny_run(forever), {"--workers=2", "--quiet"}), tls_options(certs, "server")));
  auto& w1 = c.start_worker(concat({"--quiet"}, tls_options(certs, "worker-1")));
  auto& w2 = c.start_worker(concat({"--quiet"}, tls_options(certs, "worker-2")));
  BOOST_REQUIRE_MESSAGE(c.wait_for_rows(10, 30s), "the run did not start");
  {
    raw_peer http{c.port()};
    BOOST_REQUIRE(http.send("GET / HTTP/1.1\r\nHost: dsq\r\n\r\n"));
    BOOST_TEST(http.wait_closed(10s), "the server closed the HTTP request's connection");
  }
  {
    std::string noise(256, '\0');
    std::uint32_t x = 2463534242u;
    for (auto& ch : noise) { // xorshift32: the same bytes every time
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      ch = static_cast<char>(x);
    }
    raw_peer random{c.port()};
    BOOST_REQUIRE(random.send(noise));
    BOOST_TEST(random.wait_closed(10s), "the server closed the random bytes' connection");
  }
  std::size_t rows_when_closed = 0;
  {
    raw_peer partial{c.port()};
    // A TLS record header announcing a 512-byte handshake message, and nothing more.
    BOOST_REQUIRE(partial.send(std::string("\x16\x03\x01\x02\x00", 5)));
    const auto rows = csv_rows(c.metrics());
    BOOST_TEST(c.wait_for_rows(rows + 100, 30s), "the run went on while the handshake hung");
    rows_when_closed = csv_rows(c.metrics());
  } // closed here
  BOOST_TEST_MESSAGE("the partial ClientHello was closed at row " << rows_when_closed);
  // The run goes on for ever: it is still running once the strangers are done, and a stop by
  // signal must end it, the workers and the outputs well.
  BOOST_REQUIRE_MESSAGE(server.running(), server.report());
  const auto steps = stop_run(c, run_timeout);
  BOOST_TEST(steps + 1 >= rows_when_closed);
  BOOST_TEST(w1.status()->success(), w1.report());
  BOOST_TEST(w2.status()->success(), w2.report());
  BOOST_TEST(c.summary_value("departures").value_or("") == "0");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(members)

// A certificate of the run's CA admits a peer, not the sizes it announces: a 1 GiB BASP header
// made CAF's broker allocate 1.07 GB (issue 29). The screen refuses a header over the run's
// limit (net/transport/message_size_limit.hpp) before the broker sizes its buffer, and closes that
// connection. The limit this test states: the server's peak resident memory grows by less than
// 32 MiB.
BOOST_AUTO_TEST_CASE(an_authenticated_peers_1_gib_header_is_refused_without_allocating) {
  const std::uint64_t steps = 100;
  cluster c{"tls-member-header"};
  auto& server = start_tls_server(c, steps, 2);
  const long before = peak_resident_kib(server.pid());
  BOOST_REQUIRE(before > 0);
  const auto certs = c.file("certs");
  auto& attacker =
      c.start("attacker", {DSQ_ATTACK_CLIENT, c.address(), "tls-huge-header",
                           certs + "/worker-2.pem", certs + "/worker-2.key", certs + "/ca.pem"});
  auto s = attacker.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(s.has_value(), attacker.report());
  BOOST_TEST(s->success(), attacker.report());
  BOOST_TEST(attacker.out().find("attack: the server closed the connection") != std::string::npos,
             attacker.report());
  const long after = peak_resident_kib(server.pid());
  BOOST_TEST_MESSAGE("server VmHWM " << before << " KiB before, " << after << " KiB after");
  BOOST_TEST(after - before < 32 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(server.running());
  expect_completed_with_worker_1(c, server, steps);
}

// A certificate of the cluster's CA admits a peer, not everything it sends: a message that CAF
// 0.17 cannot decode (it would throw in CAF's BASP broker and end the server's network layer)
// closes only the connection that carried it (net/transport/screened_tls.hpp), and the run goes on.
BOOST_AUTO_TEST_CASE(an_authenticated_peer_sending_what_caf_cannot_decode_loses_only_its_link) {
  const std::uint64_t steps = 100;
  cluster c{"tls-bad-variant"};
  auto& server = start_tls_server(c, steps, 2);
  const auto certs = c.file("certs");
  auto& attacker =
      c.start("attacker", {DSQ_ATTACK_CLIENT, c.address(), "bad-variant", certs + "/worker-2.pem",
                           certs + "/worker-2.key", certs + "/ca.pem"});
  expect_undecodable_message_closes_only_its_connection(attacker, server);
  expect_completed_with_worker_1(c, server, steps);
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29, item 4, over TLS: floods from a peer with a certificate of the run's CA ---------

BOOST_AUTO_TEST_SUITE(floods)

constexpr std::uint64_t flood_steps = 400;

/// The limit these tests state for the growth of the server's peak resident memory (VmHWM)
/// during a flood over TLS: that of the plaintext floods (test_attacks.cpp: for each of the run's
/// 3 connections, twice the most the transport queues for a peer, outgoing_buffer_limit, at
/// least 8 MiB, plus 16 MiB for everything else), and 16 MiB more for OpenSSL (its buffers per
/// connection, the records it writes). The resend allowance (1 MiB at once for this model) keeps
/// the server far below it.
constexpr long tls_flood_bound_kib = (3 * 2 * 8 + 16 + 16) * 1024;

/// A TLS server of `flood_steps` for 3 workers, certificates for 3 made in `c`'s "certs".
child_process& start_flooded_server(cluster& c) {
  const auto certs = c.file("certs");
  make_certs(c, certs, 3);
  // Not --quiet: the expulsion's line is part of what is checked.
  return c.start_server(
      concat(concat(tiny_run(flood_steps), {"--workers=3"}), tls_options(certs, "server")));
}

/// Two honest TLS workers (worker-1, worker-2 of `c`'s "certs").
std::pair<child_process*, child_process*> start_honest_workers(cluster& c) {
  const auto certs = c.file("certs");
  auto& w1 = c.start_worker(concat({"--quiet"}, tls_options(certs, "worker-1")));
  auto& w2 = c.start_worker(concat({"--quiet"}, tls_options(certs, "worker-2")));
  return {&w1, &w2};
}

double accuracy_of(const cluster& c) {
  auto text = c.summary_value("test_accuracy");
  BOOST_REQUIRE_MESSAGE(text.has_value(), "no test_accuracy in the summary");
  return std::stod(*text);
}

/// The accuracy of the same TLS run without the attacker (two workers), measured once.
double undisturbed_tls_accuracy() {
  static std::optional<double> accuracy;
  if (!accuracy) {
    cluster c{"tls-flood-reference"};
    const auto certs = c.file("certs");
    make_certs(c, certs, 2);
    c.start_server(concat(concat(tiny_run(flood_steps), {"--workers=2", "--quiet"}),
                          tls_options(certs, "server")));
    start_honest_workers(c);
    BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the undisturbed run did not end in time");
    BOOST_REQUIRE(c.server().status()->success());
    accuracy = accuracy_of(c);
    BOOST_TEST_MESSAGE("undisturbed TLS accuracy " << *accuracy);
    BOOST_REQUIRE_MESSAGE(*accuracy > 0.5, "the reference run should learn something");
  }
  return *accuracy;
}

/// attack_client's `attack` as a certified member (worker-3's certificate): once it says `said`,
/// the run must end as the undisturbed one does (every step, both honest workers exit 0,
/// accuracy within one point), the attacker expelled for its flood (`limit` names what it
/// exceeded, in the server's line), and the server's memory within tls_flood_bound_kib.
void play_tls_flood(const std::string& attack, const std::string& said, const std::string& limit) {
  const auto reference = undisturbed_tls_accuracy();
  cluster c{"tls-" + attack};
  auto& server = start_flooded_server(c);
  const long before = peak_resident_kib(server.pid());
  BOOST_REQUIRE(before > 0);
  const auto certs = c.file("certs");
  auto& attacker =
      c.start("attacker", {DSQ_ATTACK_CLIENT, c.address(), attack, certs + "/worker-3.pem",
                           certs + "/worker-3.key", certs + "/ca.pem"});
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  auto [w1, w2] = start_honest_workers(c);
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output(said, 60s), attacker.report());
  BOOST_REQUIRE_MESSAGE(server.wait_for(run_timeout).has_value(), "the run did not end in time");
  BOOST_TEST(server.status()->success(), server.report());
  for (auto* w : {w1, w2}) {
    auto s = w->wait_for(30s);
    BOOST_REQUIRE_MESSAGE(s.has_value(), w->name() << " did not end");
    BOOST_TEST(s->success(), w->report());
  }
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  BOOST_TEST(read_csv(c.metrics()).rows.size() == flood_steps + 1);
  const auto accuracy = accuracy_of(c);
  BOOST_TEST(std::abs(accuracy - reference) <= 0.01,
             "accuracy " << accuracy << ", undisturbed " << reference);
  // The server has ended: its peak from the kernel's accounting, when it was reaped.
  const long after = server.usage().max_resident_kib;
  BOOST_TEST_MESSAGE(attack << " over TLS: server VmHWM " << before << " KiB before the attacker, "
                            << after << " KiB at its end (+" << (after - before) << " KiB, bound "
                            << tls_flood_bound_kib << " KiB)");
  BOOST_TEST(after - before < tls_flood_bound_kib,
             "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(std::stoull(c.summary_value("floods_expelled").value_or("0")) == 1u);
  BOOST_TEST(server.out().find(limit) != std::string::npos, server.report());
  BOOST_TEST_MESSAGE("attacker said:\n" << attacker.out());
}

// A certified member that sends every push it ever made again on every update it receives
// (resent ones too): over plaintext a server grew to 16.7 GB (issue 29). TLS admits the
// attacker, not its flood. Which of the two limits expels it depends on how far the run got
// before the flood: each replayed push asks for every update since its step, so a few versions
// in, its bytes reach the allowance before its requests reach the catch-up budget (a CI run
// expelled it at step 5 by the allowance, after 28,000 replays). Either is a flood's
// expulsion; test_attacks.cpp pins each limit with a run that reaches it first.
BOOST_AUTO_TEST_CASE(a_certified_member_replaying_its_pushes_is_expelled_memory_bounded) {
  play_tls_flood("replay", "attack: told to go", ": a flood)");
}

// A certified member that probes 20,000 times and then stops reading its TLS connection (it
// stops itself): the answers are bounded by its allowance (3 x 128 bytes a probe, 1 MiB) and
// what the server queues for it by the transport's limit, which holds for TLS connections too
// (net/transport/screened_scribe.hpp).
BOOST_AUTO_TEST_CASE(a_certified_members_probe_flood_then_no_reading_is_expelled_memory_bounded) {
  play_tls_flood("probe-flood", "attack: stops reading", "than its allowance (");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(options)

BOOST_AUTO_TEST_CASE(without_tls_the_server_refuses_a_non_loopback_bind_and_says_why) {
  cluster c{"tls-bind"};
  for (const char* bind : {"0.0.0.0", "::", "192.0.2.1"}) {
    const std::string name = std::string{"server-"} + (bind[0] == ':' ? "v6" : bind);
    auto s = run_dsq(c, name,
                     concat({"server", "--port=0", std::string{"--bind="} + bind}, tiny_run(10)));
    BOOST_TEST(s.exited);
    BOOST_TEST(s.code == 2, bind << ": " << s.describe());
    auto error = last_error(c, name);
    BOOST_TEST(error.rfind("dsq: error: --bind=", 0) == 0u, error);
    BOOST_TEST(error.find("without TLS") != std::string::npos, error);
    BOOST_TEST(error.find("--insecure") != std::string::npos, error);
  }
  // Loopback needs neither (the server is stopped once it listens).
  for (const char* bind : {"127.0.0.1", "localhost"}) {
    auto& server = c.start(
        std::string{"loopback-"} + bind,
        concat({dsq_binary(), "server", "--port=0", std::string{"--bind="} + bind}, tiny_run(10)));
    BOOST_TEST(server.wait_for_output("dsq server: listening on", 20s), server.report());
    server.send_signal(SIGTERM);
    auto s = server.wait_for(20s);
    BOOST_REQUIRE(s.has_value());
  }
}

BOOST_AUTO_TEST_CASE(tls_options_come_together_and_a_bad_file_is_named) {
  cluster c{"tls-options"};
  const auto certs = c.file("certs");
  make_certs(c, certs, 1);
  const auto cert = "--tls-cert=" + certs + "/server.pem";
  const auto key = "--tls-key=" + certs + "/server.key";
  const auto ca = "--tls-ca=" + certs + "/ca.pem";
  struct bad_case {
    std::string name;
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<bad_case> cases{
      {"only-cert", {cert}, "missing: --tls-key, --tls-ca"},
      {"no-ca", {cert, key}, "missing: --tls-ca"},
      {"missing-key", {cert, "--tls-key=" + certs + "/nope.key", ca}, certs + "/nope.key"},
      {"key-is-a-cert", {cert, "--tls-key=" + certs + "/ca.pem", ca}, "--tls-key=" + certs},
      {"wrong-key", {cert, "--tls-key=" + certs + "/worker-1.key", ca}, "not the key of"},
      {"ca-is-a-key", {cert, key, "--tls-ca=" + certs + "/ca.key"}, "--tls-ca=" + certs},
  };
  for (const auto& command : {"server", "worker"}) {
    for (const auto& bad : cases) {
      const auto name = std::string{command} + "-" + bad.name;
      // Each command with its own options only: the run's for the server, --server for the
      // worker (a command refuses the options it does not use).
      const bool worker = std::string{command} == "worker";
      auto args = concat({command, worker ? "--server=127.0.0.1:1" : "--port=0"}, bad.args);
      auto s = run_dsq(c, name, worker ? args : concat(args, tiny_run(10)));
      BOOST_TEST(s.code == 2, name << ": " << s.describe());
      auto error = last_error(c, name);
      BOOST_TEST(error.rfind("dsq: error: ", 0) == 0u, name << ": " << error);
      BOOST_TEST(error.find(bad.expected) != std::string::npos, name << ": " << error);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
