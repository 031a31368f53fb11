// The seeded fault plan (issue 9): every key parsed and checked, per-message decisions that are
// deterministic and have the configured rates, links filtered, and the fault log's checked rows.
#define BOOST_TEST_MODULE fault_plan
#include <boost/test/unit_test.hpp>

#include "config/fault_options.hpp"
#include "config/run_config.hpp"
#include "training/faults/fault_log.hpp"
#include "training/faults/fault_plan.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

using namespace dsq;
namespace fs = std::filesystem;

namespace {

using entries = std::vector<std::pair<std::string, std::string>>;

bool says(const std::exception& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

/// The error message of parsing `given`, or "" when it parses.
std::string error_of(const entries& given) {
  try {
    parse_fault_plan(given);
  } catch (const config_error& e) {
    return e.what();
  }
  return {};
}

std::string read_text(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// How many of `n` messages on `link` meet `action`.
int count_actions(link_faults& faults, int n, message_action action) {
  int count = 0;
  for (int i = 0; i < n; ++i)
    count += faults.next(100).action == action ? 1 : 0;
  return count;
}

/// Whether `count` of `n` draws is within 4 standard deviations of rate `p`.
bool near_rate(int count, int n, double p) {
  const double sd = std::sqrt(n * p * (1 - p));
  return std::abs(count - n * p) <= 4 * sd;
}

constexpr link_id up1{1, link_direction::up};
constexpr link_id down1{1, link_direction::down};
constexpr link_id up2{2, link_direction::up};
constexpr link_id down2{2, link_direction::down};

} // namespace

BOOST_AUTO_TEST_CASE(the_default_plan_injects_nothing) {
  const auto plan = parse_fault_plan({});
  BOOST_TEST(plan.empty());
  BOOST_TEST(!plan.has_message_faults());
  BOOST_TEST(make_fault_plan(fault_options{}).empty());
  link_faults link{plan, up1};
  BOOST_TEST(!link.active());
  for (int i = 0; i < 100; ++i) {
    const auto fate = link.next(1 << 20);
    BOOST_TEST((fate.action == message_action::deliver));
    BOOST_TEST(fate.delay_ms == 0);
  }
}

BOOST_AUTO_TEST_CASE(every_key_is_parsed) {
  const auto plan = parse_fault_plan({{"drop", "0.05"},
                                      {"duplicate", "0.1"},
                                      {"reorder", "0.2"},
                                      {"delay", "3"},
                                      {"jitter", "1.5"},
                                      {"bandwidth", "100Mbit"},
                                      {"links", "1, 3,up"},
                                      {"crash", "1@100,2@200"},
                                      {"hang", "3@50:2.5,4@60"},
                                      {"rejoin", "1@150"},
                                      {"corrupt", "2@10"},
                                      {"poison", "0@7"},
                                      {"server-crash", "400"},
                                      {"seed", "42"}});
  BOOST_TEST(plan.drop == 0.05);
  BOOST_TEST(plan.duplicate == 0.1);
  BOOST_TEST(plan.reorder == 0.2);
  BOOST_TEST(plan.delay_ms == 3.0);
  BOOST_TEST(plan.jitter_ms == 1.5);
  BOOST_TEST(plan.bandwidth_bytes_per_s == 12.5e6);
  BOOST_TEST((plan.link_workers == std::vector<std::uint32_t>{1, 3}));
  BOOST_TEST(plan.up);
  BOOST_TEST(!plan.down);
  BOOST_TEST((plan.crash == std::vector<worker_fault>{{1, 100, {}}, {2, 200, {}}}));
  BOOST_TEST((plan.hang == std::vector<worker_fault>{{3, 50, 2.5}, {4, 60, {}}}));
  BOOST_TEST((plan.rejoin == std::vector<worker_fault>{{1, 150, {}}}));
  BOOST_TEST((plan.corrupt == std::vector<worker_fault>{{2, 10, {}}}));
  BOOST_TEST((plan.poison == std::vector<worker_fault>{{0, 7, {}}}));
  BOOST_TEST(plan.server_crash.value_or(0) == 400u);
  BOOST_TEST(plan.seed == 42u);
  BOOST_TEST(!plan.empty());
}

BOOST_AUTO_TEST_CASE(the_options_struct_becomes_the_same_plan) {
  fault_options o;
  o.drop = 0.25;
  o.delay_ms = 0.1;
  o.bandwidth = "10MB";
  o.links = "down";
  o.crash = "2@5";
  o.server_crash = "9";
  o.seed = 7;
  const auto plan = make_fault_plan(o);
  BOOST_TEST(plan.drop == 0.25);
  BOOST_TEST(plan.delay_ms == 0.1); // written out and read back without loss
  BOOST_TEST(plan.bandwidth_bytes_per_s == 1e7);
  BOOST_TEST(!plan.up);
  BOOST_TEST(plan.down);
  BOOST_TEST((plan.crash == std::vector<worker_fault>{{2, 5, {}}}));
  BOOST_TEST(plan.server_crash.value_or(0) == 9u);
  BOOST_TEST(plan.seed == 7u);
  o.reorder = 1.5;
  BOOST_CHECK_EXCEPTION(make_fault_plan(o), config_error,
                        [](const auto& e) { return says(e, "--faults.reorder=1.5"); });
}

BOOST_AUTO_TEST_CASE(bandwidth_units_are_decimal_per_second) {
  BOOST_TEST(parse_bandwidth("8kbit", "x") == 1e3);
  BOOST_TEST(parse_bandwidth("8Mbit", "x") == 1e6);
  BOOST_TEST(parse_bandwidth("8Gbit", "x") == 1e9);
  BOOST_TEST(parse_bandwidth("1.5kB", "x") == 1.5e3);
  BOOST_TEST(parse_bandwidth("2MB", "x") == 2e6);
  BOOST_TEST(parse_bandwidth("1GB", "x") == 1e9);
  BOOST_TEST(parse_bandwidth(" 3 MB ", "x") == 3e6);
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_key_and_the_bad_part) {
  struct expectation {
    entries given;
    std::vector<std::string> says;
  };
  for (const auto& e : std::vector<expectation>{
           {{{"drop", "1.5"}}, {"--faults.drop=1.5", "from 0 to 1"}},
           {{{"drop", "-0.1"}}, {"--faults.drop=-0.1", "from 0 to 1"}},
           {{{"drop", "abc"}}, {"--faults.drop=abc", "'abc' is not a number"}},
           {{{"duplicate", "nan"}}, {"--faults.duplicate=nan", "'nan'"}},
           {{{"reorder", ""}}, {"--faults.reorder=", "is empty"}},
           {{{"drop", "0.5"}, {"duplicate", "0.4"}, {"reorder", "0.2"}}, {"sum to 1.1"}},
           {{{"delay", "-1"}}, {"--faults.delay=-1", "0 or more"}},
           {{{"delay", "inf"}}, {"--faults.delay=inf", "'inf'"}},
           {{{"jitter", "2ms"}}, {"--faults.jitter=2ms", "trailing characters 'ms'"}},
           {{{"bandwidth", "100"}}, {"--faults.bandwidth=100", "kbit, Mbit, Gbit, kB, MB or GB"}},
           {{{"bandwidth", "100mbit"}}, {"--faults.bandwidth=100mbit", "unit"}},
           {{{"bandwidth", "0MB"}}, {"--faults.bandwidth=0MB", "must be positive"}},
           {{{"bandwidth", "xMB"}}, {"--faults.bandwidth=xMB", "'x' is not a number"}},
           {{{"links", "1,sideways"}}, {"--faults.links=1,sideways", "'sideways' is neither"}},
           {{{"links", "1,,2"}}, {"--faults.links=1,,2", "empty item"}},
           {{{"links", "-1"}}, {"'-1' is neither"}},
           {{{"crash", "3"}}, {"--faults.crash=3", "'3' is not ID@STEP"}},
           {{{"crash", "1@10,x@5"}}, {"--faults.crash=1@10,x@5", "worker id 'x' is not a number"}},
           {{{"crash", "1@ten"}}, {"--faults.crash=1@ten", "step 'ten' is not a number"}},
           {{{"crash", "5000000000@1"}}, {"worker id '5000000000' is out of range"}},
           {{{"crash", "1@-2"}}, {"step '-2'"}},
           {{{"rejoin", "1@2:3"}}, {"--faults.rejoin=1@2:3", "step '2:3'"}},
           {{{"hang", "1@5:-1"}}, {"--faults.hang=1@5:-1", "'1@5:-1': a time must be 0 or more"}},
           {{{"hang", "1@5:soon"}}, {"seconds 'soon' is not a number"}},
           {{{"corrupt", ""}}, {"--faults.corrupt=", "empty item"}},
           {{{"poison", "2@"}}, {"--faults.poison=2@", "step '' is empty"}},
           {{{"server-crash", "later"}}, {"--faults.server-crash=later", "step 'later'"}},
           {{{"seed", "-3"}}, {"--faults.seed=-3", "'-3' is negative"}},
           {{{"drop", "0.1"}, {"drop", "0.2"}}, {"--faults.drop=0.2", "given twice"}},
           {{{"dorp", "0.1"}}, {"--faults.dorp=0.1", "unknown fault"}},
       }) {
    const auto error = error_of(e.given);
    BOOST_TEST_CONTEXT(e.given.front().first << "=" << e.given.front().second) {
      BOOST_TEST(!error.empty());
      for (const auto& part : e.says)
        BOOST_TEST(error.find(part) != std::string::npos,
                   "'" << error << "' lacks '" << part << "'");
    }
  }
}

BOOST_AUTO_TEST_CASE(bounds_are_accepted) {
  BOOST_TEST(
      error_of({{"drop", "0"}, {"duplicate", "1"}, {"delay", "0"}, {"hang", "1@2:0"}}).empty());
  BOOST_TEST(error_of({{"drop", "0.5"}, {"duplicate", "0.25"}, {"reorder", "0.25"}}).empty());
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_the_same_decisions_another_seed_others) {
  const auto plan_of = [](const std::string& seed) {
    return parse_fault_plan({{"drop", "0.2"},
                             {"duplicate", "0.2"},
                             {"reorder", "0.2"},
                             {"jitter", "10"},
                             {"seed", seed}});
  };
  const auto fates = [](const fault_plan& plan, link_id link) {
    link_faults faults{plan, link};
    std::vector<std::pair<message_action, double>> result;
    for (int i = 0; i < 500; ++i) {
      const auto fate = faults.next(64 + i);
      result.emplace_back(fate.action, fate.delay_ms);
    }
    return result;
  };
  const auto a = fates(plan_of("5"), up1);
  BOOST_TEST((a == fates(plan_of("5"), up1)));
  BOOST_TEST((a != fates(plan_of("6"), up1)));
  // Each link and direction has its own decisions.
  BOOST_TEST((a != fates(plan_of("5"), down1)));
  BOOST_TEST((a != fates(plan_of("5"), up2)));
  // A decision depends on the message's index only, not on the decisions before it.
  const link_faults fresh{plan_of("5"), up1};
  const auto fate = fresh.decide(321, 64 + 321);
  BOOST_TEST((fate.action == a[321].first));
  BOOST_TEST(fate.delay_ms == a[321].second);
}

// --servers=K: a worker has a link to each shard. Shard 0's links are the unsharded run's
// (the same decisions as before shards existed: a K = 1 run is unchanged), each follower's
// links have decisions of their own, and the same seed gives the same ones.
BOOST_AUTO_TEST_CASE(each_shards_link_has_its_own_seeded_decisions_and_shard_0s_are_unchanged) {
  const auto plan = parse_fault_plan({{"drop", "0.3"}, {"duplicate", "0.3"}, {"seed", "4"}});
  const auto fates = [&](link_id link) {
    link_faults faults{plan, link};
    std::vector<message_action> result;
    for (int i = 0; i < 300; ++i)
      result.push_back(faults.next(64).action);
    return result;
  };
  const auto shard0 = fates({1, link_direction::up, 0});
  BOOST_TEST((shard0 == fates(up1)));
  const auto shard1 = fates({1, link_direction::up, 1});
  const auto shard2 = fates({1, link_direction::up, 2});
  BOOST_TEST((shard1 != shard0));
  BOOST_TEST((shard2 != shard1));
  BOOST_TEST((fates({1, link_direction::down, 1}) != shard1));
  BOOST_TEST((fates({2, link_direction::up, 1}) != shard1));
  BOOST_TEST((shard1 == fates({1, link_direction::up, 1})));
  BOOST_TEST(to_string(link_id{3, link_direction::up, 0}) == "3/up");
  BOOST_TEST(to_string(link_id{3, link_direction::down, 2}) == "3/down/shard2");
}

BOOST_AUTO_TEST_CASE(drop_duplicate_and_reorder_have_their_rates) {
  constexpr int n = 20000;
  for (const auto& [key, action] :
       std::vector<std::pair<std::string, message_action>>{{"drop", message_action::drop},
                                                           {"duplicate", message_action::duplicate},
                                                           {"reorder", message_action::hold}}) {
    link_faults faults{parse_fault_plan({{key, "0.05"}, {"seed", "11"}}), up1};
    const int count = count_actions(faults, n, action);
    BOOST_TEST(near_rate(count, n, 0.05), key << ": " << count << " of " << n);
  }
  // Together, each keeps its own rate (one draw decides among them).
  const auto plan =
      parse_fault_plan({{"drop", "0.05"}, {"duplicate", "0.1"}, {"reorder", "0.2"}, {"seed", "3"}});
  link_faults faults{plan, down2};
  int drops = 0, duplicates = 0, holds = 0;
  for (int i = 0; i < n; ++i) {
    const auto action = faults.next(10).action;
    drops += action == message_action::drop;
    duplicates += action == message_action::duplicate;
    holds += action == message_action::hold;
  }
  BOOST_TEST(near_rate(drops, n, 0.05), drops);
  BOOST_TEST(near_rate(duplicates, n, 0.1), duplicates);
  BOOST_TEST(near_rate(holds, n, 0.2), holds);
  BOOST_TEST(faults.messages() == std::uint64_t{n});
}

BOOST_AUTO_TEST_CASE(delay_is_delay_plus_jitter_plus_bytes_over_bandwidth) {
  // 100 Mbit/s = 12.5 MB/s: 1.25 MB take 100 ms, 125 kB 10 ms.
  link_faults fixed{parse_fault_plan({{"delay", "5"}, {"bandwidth", "100Mbit"}}), up1};
  BOOST_TEST(fixed.active());
  BOOST_TEST(fixed.next(1'250'000).delay_ms == 105.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(fixed.next(125'000).delay_ms == 15.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(fixed.next(0).delay_ms == 5.0);
  link_faults bytes{parse_fault_plan({{"bandwidth", "10MB"}}), down1};
  BOOST_TEST(bytes.next(5'000'000).delay_ms == 500.0, boost::test_tools::tolerance(1e-9));

  // Jitter adds a uniform draw from [0, jitter): it spans the range, its mean is half of it.
  link_faults jittery{parse_fault_plan({{"delay", "2"}, {"jitter", "4"}, {"seed", "9"}}), up2};
  double low = 1e9, high = 0, sum = 0;
  constexpr int n = 5000;
  for (int i = 0; i < n; ++i) {
    const double d = jittery.next(0).delay_ms;
    low = std::min(low, d);
    high = std::max(high, d);
    sum += d;
  }
  BOOST_TEST(low >= 2.0);
  BOOST_TEST(high < 6.0);
  BOOST_TEST(low < 2.1);
  BOOST_TEST(high > 5.9);
  BOOST_TEST(sum / n == 4.0, boost::test_tools::tolerance(0.02));

  // A dropped message waits for nothing.
  link_faults lossy{parse_fault_plan({{"drop", "1"}, {"delay", "5"}}), up1};
  const auto fate = lossy.next(1000);
  BOOST_TEST((fate.action == message_action::drop));
  BOOST_TEST(fate.delay_ms == 0);
}

BOOST_AUTO_TEST_CASE(only_the_listed_links_are_affected) {
  const auto affected = [](const std::string& links, link_id link) {
    const auto plan = parse_fault_plan({{"drop", "1"}, {"links", links}});
    link_faults faults{plan, link};
    BOOST_TEST(faults.active() == plan.covers(link));
    return faults.next(10).action == message_action::drop;
  };
  for (const auto link : {up1, down1, up2, down2})
    BOOST_TEST(affected("", link), to_string(link));
  BOOST_TEST(affected("1", up1));
  BOOST_TEST(affected("1", down1));
  BOOST_TEST(!affected("1", up2));
  BOOST_TEST(!affected("1", down2));
  BOOST_TEST(affected("up", up1));
  BOOST_TEST(affected("up", up2));
  BOOST_TEST(!affected("up", down1));
  BOOST_TEST(!affected("down", up2));
  BOOST_TEST(affected("down", down2));
  BOOST_TEST(affected("2,down", down2));
  BOOST_TEST(!affected("2,down", up2));
  BOOST_TEST(!affected("2,down", down1));
  BOOST_TEST(affected("up,down,1", down1));
  BOOST_TEST(!affected("up,down,1", up2));
  // Delays obey the same filter.
  link_faults slow{parse_fault_plan({{"delay", "7"}, {"links", "2"}}), up1};
  BOOST_TEST(slow.next(10).delay_ms == 0);
}

BOOST_AUTO_TEST_CASE(links_and_kinds_have_their_names) {
  BOOST_TEST(to_string(up1) == "1/up");
  BOOST_TEST(to_string(down2) == "2/down");
  BOOST_TEST(name(message_action::hold) == "reorder");
  BOOST_TEST(name(fault_kind::server_crash) == "server-crash");
  BOOST_TEST(name(fault_kind::poison) == "poison");
}

BOOST_AUTO_TEST_CASE(the_fault_log_writes_rows_and_counts_kinds) {
  const auto path =
      fs::temp_directory_path() / ("dsq-fault-log-" + std::to_string(::getpid()) + ".csv");
  {
    fault_log log{path.string()};
    log.record(0.5, 3, fault_kind::drop, to_string(up1));
    log.record(1.25, 4, fault_kind::drop, to_string(down2));
    log.record(2, 10, fault_kind::crash, "2");
    log.record(3, 12, fault_kind::server_crash, "");
    log.sync();
    BOOST_TEST(log.count(fault_kind::drop) == 2u);
    BOOST_TEST(log.count(fault_kind::crash) == 1u);
    BOOST_TEST(log.count(fault_kind::hang) == 0u);
    BOOST_TEST(log.total() == 4u);
    BOOST_TEST((log.counts() == std::map<std::string, std::uint64_t>{
                                    {"crash", 1}, {"drop", 2}, {"server-crash", 1}}));
    BOOST_TEST(log.counts_json() == R"({"crash": 1, "drop": 2, "server-crash": 1})");
    BOOST_CHECK_THROW(log.record(4, 13, fault_kind::drop, "1,2"), std::invalid_argument);
    BOOST_TEST(log.total() == 4u);
  }
  BOOST_TEST(read_text(path) == "wall_s,step,kind,link\n"
                                "0.500000,3,drop,1/up\n"
                                "1.250000,4,drop,2/down\n"
                                "2.000000,10,crash,2\n"
                                "3.000000,12,server-crash,\n");
  fs::remove(path);

  fault_log counting_only;
  counting_only.record(0, 0, fault_kind::rejoin, "1");
  counting_only.sync();
  BOOST_TEST(counting_only.count(fault_kind::rejoin) == 1u);
  BOOST_TEST(fault_log{}.counts_json() == "{}");
}

BOOST_AUTO_TEST_CASE(a_failed_fault_log_write_throws_naming_the_file) {
  BOOST_CHECK_EXCEPTION(fault_log{"/dev/full"}, std::runtime_error, [](const auto& e) {
    return says(e, "cannot write fault log '/dev/full'") && says(e, "No space left");
  });
  BOOST_CHECK_EXCEPTION(fault_log{"/nonexistent-dir/faults.csv"}, std::runtime_error,
                        [](const auto& e) {
                          return says(e, "cannot write fault log '/nonexistent-dir/faults.csv'");
                        });
}
