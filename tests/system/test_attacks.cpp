// Attacks on a plaintext `dsq server` on 127.0.0.1 training with real `dsq worker` processes,
// played by tests/system/attack_client.cpp (a CAF peer speaking net/protocol/messages.hpp) or by
// raw bytes: a stranger's stop, error and exit messages (also in the server's own name), a flood of
// the server's timer atom, NaN and 1e30 pushes, a NaN loss, the wrong operator, pushes under
// another worker's id, registrations that never push, forged transport headers announcing
// gibibytes. After each the run must complete, and its test accuracy must be that of an
// undisturbed run within 1 point.
#define BOOST_TEST_MODULE dsq_system_attacks
#include <boost/test/unit_test.hpp>

#include "raw_peer.hpp"
#include "system_support.hpp"

#include <cmath>
#include <csignal>
#include <map>
#include <optional>
#include <sstream>

#ifndef DSQ_ATTACK_CLIENT
#error "DSQ_ATTACK_CLIENT must name the attack_client executable (tests/system/CMakeLists.txt)"
#endif

using namespace dsq::system_test;

namespace {

constexpr auto run_timeout = 90s;
constexpr std::uint64_t steps = 400;

/// Every run of this file: a few hundred steps of the default method (DoubleSqueeze, sign on
/// both passes), one evaluation at the end.
std::vector<std::string> run_config() {
  return concat(tiny_run(steps), {"--quiet"});
}

/// `args` with the options of `extra` instead of theirs (--key=value: the same --key).
std::vector<std::string> with_options(std::vector<std::string> args,
                                      const std::vector<std::string>& extra) {
  for (const auto& e : extra) {
    const auto key = e.substr(0, e.find('=') + 1);
    std::erase_if(args, [&](const std::string& a) { return a.rfind(key, 0) == 0; });
    args.push_back(e);
  }
  return args;
}

double accuracy_of(const cluster& c) {
  auto text = c.summary_value("test_accuracy");
  BOOST_REQUIRE_MESSAGE(text.has_value(), "no test_accuracy in the summary");
  return std::stod(*text);
}

/// The accuracy of the run (with the options `extra`) without an attacker (two workers),
/// measured once.
double undisturbed_accuracy(const std::vector<std::string>& extra = {}) {
  static std::map<std::vector<std::string>, double> measured;
  auto& accuracy = measured.try_emplace(extra, -1.0).first->second;
  if (accuracy < 0) {
    cluster c{"attack-reference"};
    c.start_server(with_options(concat(run_config(), {"--workers=2"}), extra));
    c.start_worker({"--quiet"});
    c.start_worker({"--quiet"});
    BOOST_REQUIRE_MESSAGE(c.wait_all(run_timeout), "the undisturbed run did not end in time");
    BOOST_REQUIRE(c.server().status()->success());
    BOOST_REQUIRE(c.summary_value("completed").value_or("") == "true");
    accuracy = accuracy_of(c);
    BOOST_TEST_MESSAGE("undisturbed accuracy " << accuracy);
    BOOST_REQUIRE_MESSAGE(accuracy > 0.5, "the reference run should learn something");
  }
  return accuracy;
}

/// The run completed every step, its two real workers exited 0, and its accuracy is within one
/// point of the undisturbed run's (with the options `extra`).
void expect_undisturbed(cluster& c, child_process& w1, child_process& w2,
                        const std::vector<std::string>& extra = {}) {
  BOOST_REQUIRE_MESSAGE(c.server().wait_for(run_timeout).has_value(),
                        "the run did not end in time");
  BOOST_TEST(c.server().status()->success(), c.server().report());
  for (auto* w : {&w1, &w2}) {
    auto s = w->wait_for(30s);
    BOOST_REQUIRE_MESSAGE(s.has_value(), w->name() << " did not end");
    BOOST_TEST(s->success(), w->report());
  }
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  BOOST_TEST(c.summary_value("steps").value_or("") == std::to_string(steps));
  BOOST_TEST(read_csv(c.metrics()).rows.size() == steps + 1);
  const auto reference = undisturbed_accuracy(extra);
  const auto accuracy = accuracy_of(c);
  BOOST_TEST_MESSAGE("accuracy " << accuracy << " (undisturbed " << reference << ")");
  BOOST_TEST(std::abs(accuracy - reference) <= 0.01,
             "accuracy " << accuracy << ", undisturbed " << reference);
}

child_process& start_attacker(cluster& c, const std::string& attack) {
  return c.start("attacker-" + attack, {DSQ_ATTACK_CLIENT, c.address(), attack});
}

/// An attacker that joins as a third worker: the run starts once it and two real workers have
/// registered, so its first lie lands at step 0, long before the run could end without it.
void play_member_attack(const std::string& attack, const std::vector<std::string>& extra = {}) {
  undisturbed_accuracy();
  cluster c{"attack-" + attack};
  c.start_server(concat(concat(run_config(), {"--workers=3"}), extra));
  auto& attacker = start_attacker(c, attack);
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
  BOOST_TEST_MESSAGE("attacker said:\n" << attacker.out());
}

/// A stranger (never registered) that attacks before the workers start: once it says `said`,
/// two real workers run; the run must be undisturbed.
void play_stranger_attack(const std::string& attack, const std::string& said) {
  undisturbed_accuracy();
  cluster c{"attack-" + attack};
  c.start_server(concat(run_config(), {"--workers=2"}));
  auto& attacker = start_attacker(c, attack);
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output(said, 20s), attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
}

} // namespace

BOOST_AUTO_TEST_SUITE(strangers)

// One message CAF 0.17 cannot decode (a config_value whose variant tag is past its last
// alternative) used to end the server's network layer: exit 6. The screen in front of CAF's
// BASP broker (net/transport/basp_screen.hpp) closes that one connection instead, and the run goes
// on.
BOOST_AUTO_TEST_CASE(a_message_caf_cannot_decode_closes_only_its_own_connection) {
  undisturbed_accuracy();
  cluster c{"attack-bad-variant"};
  auto& server = c.start_server(concat(run_config(), {"--workers=2"}));
  auto& attacker = start_attacker(c, "bad-variant");
  expect_undecodable_message_closes_only_its_connection(attacker, server);
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
}

BOOST_AUTO_TEST_CASE(a_strangers_stop_is_ignored) {
  play_stranger_attack("stop", "attack: sent stop_atom");
}

// CAF's default handlers end an actor on an error message it did not ask for and on an exit
// message with reason kill (before any handler); the server obeys neither from the network.
BOOST_AUTO_TEST_CASE(a_strangers_error_and_exit_messages_are_ignored) {
  play_stranger_attack("error-exit", "attack: sent an error");
}

// CAF 0.17's BASP broker sizes its buffer to the payload a transport header announces before
// reading it: three headers announcing 1, 1 and 2 GiB grew the server to 4.2 GB (issue 29).
// dsq's connections refuse a header over the run's limit (net/transport/message_size_limit.hpp:
// about 1.2 MB for this model) and close its connection before the broker sees it. The limit this
// test states: the server's peak resident memory grows by less than 32 MiB.
BOOST_AUTO_TEST_CASE(forged_transport_headers_announcing_gibibytes_are_refused_without_allocating) {
  undisturbed_accuracy();
  cluster c{"attack-header"};
  auto& server = c.start_server(concat(run_config(), {"--workers=2"}));
  const long before = peak_resident_kib(server.pid());
  BOOST_REQUIRE(before > 0);
  for (std::uint32_t announced : {1u << 30, 1u << 30, 0x80000000u}) {
    raw_peer attacker{c.port()};
    BOOST_REQUIRE(attacker.send(forged_transport_header(announced)));
    BOOST_TEST(attacker.wait_closed(10s), "the server closed the connection");
  }
  const long after = peak_resident_kib(server.pid());
  BOOST_TEST_MESSAGE("plaintext: server VmHWM " << before << " KiB before the forged headers, "
                                                << after << " KiB after (+" << (after - before)
                                                << " KiB)");
  BOOST_TEST(after - before < 32 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(server.running());
  BOOST_TEST(server.err().find("more than this run's limit") != std::string::npos, server.err());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
}

// CAF's broker takes the source node a routed message claims: a message in the server's own
// name (its node, its actor id) reached the server as a message from itself, so `stop` ended
// the run at once with exit 0 and an exit message (kill) ended the server (issue 29). dsq's
// connections refuse a message whose source is not the peer's node and close the connection.
BOOST_AUTO_TEST_CASE(a_stop_in_the_servers_own_name_is_refused) {
  play_stranger_attack("forged-stop", "attack: sent stop_atom in the server's name");
}

BOOST_AUTO_TEST_CASE(an_exit_kill_in_the_servers_own_name_is_refused) {
  play_stranger_attack("forged-kill", "attack: sent an exit (kill) in the server's name");
}

// The server's private timer atom from the network: each of 200,000 anonymous ticks started a
// timer of its own, slowing the run and growing the server by 50 MB (issue 29). Refused by the
// screen (net/transport/local_only_atoms.hpp) at the first. The limit this test states: the
// server's peak resident memory grows by less than 32 MiB.
BOOST_AUTO_TEST_CASE(a_flood_of_the_servers_private_timer_atom_is_dropped) {
  undisturbed_accuracy();
  cluster c{"attack-tick-flood"};
  auto& server = c.start_server(concat(run_config(), {"--workers=2"}));
  const long before = peak_resident_kib(server.pid());
  auto& attacker = start_attacker(c, "tick-flood");
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: sent 200000 ticks", 30s),
                        attacker.report());
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: the server ended", 30s),
                        "the server kept the flooding connection open:\n"
                            << attacker.report());
  const long after = peak_resident_kib(server.pid());
  BOOST_TEST_MESSAGE("server VmHWM " << before << " KiB before the flood, " << after
                                     << " KiB after");
  BOOST_TEST(after - before < 32 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(server.err().find("only this process's own actors may send") != std::string::npos,
             server.err());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
}

// Twenty bytes that announce a gigabyte: CAF 0.17 resizes a byte field to its announced length
// before reading it; net/protocol/bounded_bytes.hpp makes dsq's messages read such fields in
// chunks.
BOOST_AUTO_TEST_CASE(a_push_announcing_a_1_gib_payload_allocates_nothing_and_changes_nothing) {
  undisturbed_accuracy();
  cluster c{"attack-length"};
  auto& server = c.start_server(concat(run_config(), {"--workers=2"}));
  const long before = peak_resident_kib(server.pid());
  auto& attacker = start_attacker(c, "huge-length");
  // The server answers the registration that follows the lie only after it has read the lie.
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: the server answered", 30s),
                        attacker.report());
  const long after = peak_resident_kib(server.pid());
  BOOST_TEST_MESSAGE("server VmHWM " << before << " KiB before, " << after << " KiB after");
  BOOST_TEST(after - before < 64 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(members)

BOOST_AUTO_TEST_CASE(an_identity_encoded_nan_push_is_refused_in_a_sign_run) {
  play_member_attack("nan-identity");
}

BOOST_AUTO_TEST_CASE(an_identity_encoded_push_of_1e30_is_refused) {
  play_member_attack("huge-identity");
}

BOOST_AUTO_TEST_CASE(a_sign_encoded_push_of_1e30_is_refused) {
  play_member_attack("huge-sign");
}

// A loss of NaN would mean that the shared model diverged; the server's own model says it has
// not, so the liar is removed instead of the run ending (training/divergence_probe.hpp).
BOOST_AUTO_TEST_CASE(a_worker_reporting_a_nan_loss_cannot_end_the_run) {
  play_member_attack("nan-loss");
}

BOOST_AUTO_TEST_CASE(a_push_with_the_wrong_operator_is_refused) {
  play_member_attack("wrong-operator");
}

BOOST_AUTO_TEST_CASE(pushes_under_another_workers_id_are_refused) {
  play_member_attack("spoof");
}

BOOST_AUTO_TEST_CASE(registrations_that_never_push_are_removed_after_the_worker_timeout) {
  undisturbed_accuracy();
  cluster c{"attack-silent"};
  c.start_server(concat(run_config(), {"--workers=4", "--worker-timeout=2"}));
  auto& attacker = start_attacker(c, "silent");
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered twice", 20s),
                        attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  expect_undisturbed(c, w1, w2);
  BOOST_TEST(c.summary_value("departures").value_or("") == "2");
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29: poisoned pushes that pass every check (helper H8) -------------------------------

BOOST_AUTO_TEST_SUITE(poisoned_members)

// Sign pushes of -10 on every coordinate are well-formed and within the norm bound: no check of
// a push refuses them, and the server's descent step grows every weight of the MLP. The
// server's evaluations see the damage (a test loss far above the start's,
// training/divergence_probe.hpp): the run ends as diverged, exit 3, never success.
BOOST_AUTO_TEST_CASE(pushes_of_ten_that_pass_every_check_end_the_run_as_diverged) {
  cluster c{"attack-minus-ten"};
  auto& server = c.start_server(
      concat({"--dataset=synthetic:n=3000,d=20,classes=4", "--model=mlp:hidden=32,32",
              "--steps=400", "--eval-every=50", "--quiet"},
             {"--workers=3"}));
  auto& attacker = start_attacker(c, "minus-ten");
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  c.start_worker({"--quiet"});
  c.start_worker({"--quiet"});
  auto status = server.wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "the run did not end in time");
  BOOST_TEST(status->exited);
  BOOST_TEST(status->code == 3, server.report());
  BOOST_TEST(c.summary_value("diverged").value_or("") == "true");
  BOOST_TEST(c.summary_value("completed").value_or("") == "false");
  BOOST_TEST_MESSAGE("attacker said:\n" << attacker.out());
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29: robust aggregation (helper H12) ------------------------------------------------

/// What a run of 5 members ended with: 4 real workers and the fifth real too, or the plus-ten
/// attacker (sign pushes of +10 on every coordinate, which pass every check of a push).
struct five_member_run {
  bool exited_0 = false, completed = false;
  std::optional<double> accuracy;
};

five_member_run play_five_members(const std::string& aggregate, bool attacked) {
  cluster c{"robust-" + aggregate + (attacked ? "-attacked" : "")};
  // An MLP: shifting every weight of a softmax model by the same amount leaves its predictions
  // alone, while an MLP's ReLUs die under it.
  c.start_server({"--dataset=synthetic:n=3000,d=20,classes=4", "--model=mlp:hidden=32,32",
                  "--steps=" + std::to_string(steps), "--eval-every=0", "--quiet", "--workers=5",
                  "--aggregate=" + aggregate});
  if (attacked) {
    auto& attacker = start_attacker(c, "plus-ten");
    BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  }
  for (int i = attacked ? 1 : 0; i < 5; ++i)
    c.start_worker({"--quiet"});
  auto status = c.server().wait_for(run_timeout);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "the run did not end in time");
  BOOST_TEST(c.summary_value("aggregate").value_or("") == aggregate);
  five_member_run r;
  r.exited_0 = status->success();
  r.completed = c.summary_value("completed").value_or("") == "true" &&
                c.summary_value("steps").value_or("") == std::to_string(steps);
  if (auto text = c.summary_value("test_accuracy"); text && *text != "null")
    r.accuracy = std::stod(*text);
  BOOST_TEST_MESSAGE("--aggregate=" << aggregate << (attacked ? " with plus-ten" : "")
                                    << ": exit 0 " << r.exited_0 << ", completed " << r.completed
                                    << ", accuracy " << r.accuracy.value_or(-1));
  return r;
}

BOOST_AUTO_TEST_SUITE(robust_aggregation)

// One member of five pushes +10 on every coordinate every step. Under the mean (the default) it
// drags every coordinate of every update; under --aggregate=median it is one vote of five per
// coordinate: the run completes within one point of the undisturbed run (five honest members,
// the mean), where the mean's does not.
BOOST_AUTO_TEST_CASE(the_median_outvotes_a_member_pushing_plus_ten_where_the_mean_does_not) {
  const auto undisturbed = play_five_members("mean", false);
  BOOST_REQUIRE(undisturbed.exited_0 && undisturbed.completed && undisturbed.accuracy);
  BOOST_REQUIRE(*undisturbed.accuracy > 0.5);
  const auto median = play_five_members("median", true);
  BOOST_TEST(median.exited_0);
  BOOST_TEST(median.completed);
  BOOST_REQUIRE(median.accuracy);
  BOOST_TEST(std::abs(*median.accuracy - *undisturbed.accuracy) <= 0.01,
             "median under attack " << *median.accuracy << ", undisturbed "
                                    << *undisturbed.accuracy);
  const auto mean = play_five_members("mean", true);
  const bool mean_held = mean.exited_0 && mean.completed && mean.accuracy &&
                         std::abs(*mean.accuracy - *undisturbed.accuracy) <= 0.01;
  BOOST_TEST(!mean_held, "the mean resisted the attack: the test shows nothing");
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29: log amplification (helper H8) --------------------------------------------------

BOOST_AUTO_TEST_SUITE(log_amplification)

// 2000 messages the server has no handler for used to print 2000 lines (CAF's print_and_drop),
// and a host name was logged whole: the server now logs the first of each kind and counts
// (10, 100, 1000), and cuts the host name to 64 printable bytes.
BOOST_AUTO_TEST_CASE(unexpected_messages_and_a_huge_host_name_cost_a_few_short_lines) {
  cluster c{"attack-junk-long-host"};
  auto& server = c.start_server(concat(tiny_run(200), {"--workers=2"}));
  auto& attacker = start_attacker(c, "junk-long-host");
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: left", 30s), attacker.report());
  BOOST_REQUIRE_MESSAGE(server.wait_for(run_timeout).has_value(), "the run did not end in time");
  BOOST_TEST(server.status()->success(), server.report());
  BOOST_TEST(w1.wait_for(30s).has_value());
  std::size_t unexpected_lines = 0, longest = 0;
  for (const auto& text : {server.out(), server.err()}) {
    std::istringstream lines{text};
    for (std::string line; std::getline(lines, line);) {
      longest = std::max(longest, line.size());
      if (line.find("unexpected message") != std::string::npos)
        ++unexpected_lines;
    }
  }
  BOOST_TEST(unexpected_lines >= 1u);
  BOOST_TEST(unexpected_lines <= 4u, server.report()); // 1, 10, 100, 1000
  BOOST_TEST(longest < 1000u);
  BOOST_TEST(server.out().find("bytes, cut") != std::string::npos, server.report());
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29: a server left without workers (helper H8) --------------------------------------

BOOST_AUTO_TEST_SUITE(idle_server)

// Workers that gave up on a server (one paused longer than their --server-timeout) used to leave
// it waiting for ever. With --idle-timeout it writes its checkpoint and exits 1, naming the
// option.
BOOST_AUTO_TEST_CASE(a_server_without_workers_for_the_idle_timeout_checkpoints_and_exits_1) {
  cluster c{"idle-server"};
  const auto ckpt = c.file("ckpt");
  auto& server =
      c.start_server(concat(tiny_run(10'000'000), {"--workers=1", "--idle-timeout=2",
                                                   "--worker-timeout=2", "--checkpoint=" + ckpt}));
  auto& worker = c.start_worker({});
  BOOST_REQUIRE_MESSAGE(worker.wait_for_output("step", 30s), worker.report());
  worker.kill_all();
  auto status = server.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "the server did not end: " << server.report());
  BOOST_TEST(status->exited);
  BOOST_TEST(status->code == 1, server.report());
  BOOST_TEST(server.err().find("--idle-timeout") != std::string::npos, server.report());
  BOOST_TEST(std::filesystem::exists(ckpt), "no checkpoint in " << ckpt);
  BOOST_TEST(c.summary_value("completed").value_or("") == "false");
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29: pushes never issued (helper H8) ------------------------------------------------

BOOST_AUTO_TEST_SUITE(never_issued)

// In async mode a push under a grant number the server never issued (+1000) was taken, and the
// worker's real pushes were then acknowledged as resends and never applied. It is refused
// (counted in ignored_pushes); the attacker, which never pushes under a real grant, is removed
// for owing a push, and the run completes with the two honest workers.
BOOST_AUTO_TEST_CASE(an_async_push_under_a_grant_never_issued_is_refused) {
  cluster c{"attack-forged-grant"};
  auto& server = c.start_server(
      concat(run_config(), {"--workers=3", "--mode=async", "--staleness=2", "--worker-timeout=2"}));
  auto& attacker = start_attacker(c, "forged-grant");
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(server.wait_for(run_timeout).has_value(), "the run did not end in time");
  BOOST_TEST(server.status()->success(), server.report());
  for (auto* w : {&w1, &w2})
    BOOST_TEST(w->wait_for(30s).has_value());
  BOOST_TEST(attacker.out().find("attack: pushed under grant") != std::string::npos,
             attacker.report());
  BOOST_TEST(c.summary_value("completed").value_or("") == "true");
  BOOST_TEST(std::stoull(c.summary_value("ignored_pushes").value_or("0")) >= 1u);
  BOOST_TEST(accuracy_of(c) > 0.5);
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29, item 4: floods that asked the server to send more than it could hold ----------

BOOST_AUTO_TEST_SUITE(floods)

/// The limit these tests state for the growth of the server's peak resident memory (VmHWM)
/// during a flood: for each of the run's 3 connections, the most dsq's transport queues for a
/// peer (outgoing_buffer_limit: 4 x the message limit of about 1.2 MB this model has, at least
/// 8 MiB) twice (the queue, and the write in flight), plus 16 MiB for everything else. Each
/// worker's resends are also bounded in bytes (training/resend/resend_allowance.hpp: 1 MiB at
/// once for this model), so the bound is far from reached. docs/faults.md, "Floods".
constexpr long flood_bound_kib = (3 * 2 * 8 + 16) * 1024;

/// A run whose updates are large: an MLP of 25,604 parameters (its message limit, and so the
/// transport's bound for a peer, stays at the 8 MiB minimum).
const std::vector<std::string> large_update_run{"--model=mlp:hidden=1024"};

/// What the server's line says when a worker is expelled by resend_allowance (too many bytes
/// asked for again), training/resend/, and for any flood (the allowance, or catch_up_budget's
/// too many requests between two pushes, whose expulsion test_server_core checks).
const std::string over_the_allowance = "than its allowance (";
const std::string for_a_flood = ": a flood)";

/// A member attacker that floods: the run must end within one point of the undisturbed one,
/// the attacker expelled for its flood (named in the log, counted in the summary) by the limit
/// whose words are `limit` (over_the_allowance or for_a_flood), and the server's memory within
/// flood_bound_kib. `extra`: options of the run, the undisturbed one's too.
void play_flood(const std::string& attack, const std::string& said, const std::string& limit,
                const std::vector<std::string>& extra = {}) {
  undisturbed_accuracy(extra);
  cluster c{"attack-" + attack};
  // Not --quiet: the expulsion's line is part of what is checked.
  auto& server = c.start_server(with_options(concat(tiny_run(steps), {"--workers=3"}), extra));
  const long before = peak_resident_kib(server.pid());
  BOOST_REQUIRE(before > 0);
  auto& attacker = start_attacker(c, attack);
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output("attack: registered", 20s), attacker.report());
  auto& w1 = c.start_worker({"--quiet"});
  auto& w2 = c.start_worker({"--quiet"});
  BOOST_REQUIRE_MESSAGE(attacker.wait_for_output(said, 60s), attacker.report());
  expect_undisturbed(c, w1, w2, extra);
  // The server has ended: its peak from the kernel's accounting, when it was reaped.
  const long after = server.usage().max_resident_kib;
  BOOST_TEST_MESSAGE(attack << ": server VmHWM " << before << " KiB before the attacker, " << after
                            << " KiB at its end (+" << (after - before) << " KiB, bound "
                            << flood_bound_kib << " KiB)");
  BOOST_TEST(after - before < flood_bound_kib, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(std::stoull(c.summary_value("floods_expelled").value_or("0")) == 1u);
  BOOST_TEST(server.out().find(for_a_flood) != std::string::npos, server.report());
  BOOST_TEST(server.out().find(limit) != std::string::npos,
             "expelled by another limit than '" << limit << "': " << server.report());
  BOOST_TEST_MESSAGE("attacker said:\n" << attacker.out());
}

// A member that sends every push it ever made again on every update it receives (resent ones
// too): each old push made the server send every update since again, and those updates made
// more replays (a server grew to 16.7 GB). Its resends exceed its allowance within a few steps.
BOOST_AUTO_TEST_CASE(a_member_replaying_its_pushes_on_every_update_is_expelled_memory_bounded) {
  // This model's updates are small (84 parameters: about 200 bytes each with their answer), so
  // early in the run the requests exceed their budget before their bytes exceed the allowance;
  // a few versions in, each replayed push asks for more updates and the allowance can come
  // first (the same flood over TLS was expelled at step 5 by it in CI): either is the flood's
  // expulsion. The next case pins the allowance, test_server_core the budget.
  play_flood("replay", "attack: told to go", for_a_flood);
}

// The same replays in a run whose updates are large (an MLP of 25,604 parameters: 3.2 KB an
// update, 205 KB a resync): what the attacker asks to be sent again exceeds its allowance in
// bytes before its requests exceed the budget. Without the allowance this flood would go on
// until the budget (1000 requests between two pushes, each answered with up to 256 updates).
BOOST_AUTO_TEST_CASE(replays_asking_for_large_updates_exceed_the_allowance_memory_bounded) {
  play_flood("replay", "attack: told to go", over_the_allowance, large_update_run);
}

// A member that probes 20,000 times, then stops reading its socket (it stops itself): the
// answers are bounded by its allowance, it is expelled, and what the server queued for it
// stays within the transport's bound.
BOOST_AUTO_TEST_CASE(a_probe_flood_then_no_reading_is_expelled_memory_bounded) {
  // Each probe's answers cost 3 x 128 bytes: the allowance of 1 MiB ends the flood.
  play_flood("probe-flood", "attack: stops reading", over_the_allowance);
}

BOOST_AUTO_TEST_SUITE_END()

// -- issue 29, item 5: what a worker accepts from its server ------------------------------------

BOOST_AUTO_TEST_SUITE(fake_server)

// A `dsq worker` knew no limit until it was given --max-message-bytes: a fake server's first
// header, announcing 1 GiB, was allocated whole. Until the welcome states the model it takes at
// most limit_before_welcome (64 MiB; net/transport/message_size_limit.hpp), after it the
// model's limit. The limit this test states: the worker's peak resident memory grows by less
// than 32 MiB.
BOOST_AUTO_TEST_CASE(a_fake_server_announcing_1_gib_does_not_grow_the_worker) {
  cluster c{"attack-fake-server"};
  raw_listener fake;
  auto& worker = c.start("worker", {dsq_binary(), "worker",
                                    "--server=127.0.0.1:" + std::to_string(fake.port()),
                                    "--connect-timeout=5", "--quiet"});
  raw_peer server{raw_peer::adopt{fake.accept(20s)}};
  const long before = peak_resident_kib(worker.pid());
  BOOST_REQUIRE(before > 0);
  BOOST_REQUIRE(server.send(forged_transport_header(1u << 30, true)));
  BOOST_TEST(server.wait_closed(10s), "the worker closed the connection");
  auto status = worker.wait_for(30s);
  BOOST_REQUIRE_MESSAGE(status.has_value(), "the worker did not give up: " << worker.report());
  BOOST_TEST(!status->success());
  // Its peak over its whole life, from the kernel's accounting when it was reaped.
  const long after = worker.usage().max_resident_kib;
  BOOST_TEST_MESSAGE("worker VmHWM " << before << " KiB before the header, " << after
                                     << " KiB at its end (+" << (after - before) << " KiB)");
  BOOST_TEST(after - before < 32 * 1024, "peak VmRSS grew by " << (after - before) << " KiB");
  BOOST_TEST(worker.err().find("more than this run's limit of 67108864") != std::string::npos,
             worker.report());
}

BOOST_AUTO_TEST_SUITE_END()
