// Options of `dsq`: command line, INI files, presets and validation.
#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include "config/cli/command_options.hpp"
#include "config/cli/dsq_options.hpp"
#include "config/data_origin.hpp"
#include "config/method.hpp"
#include "config/run_config.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/faults/fault_plan.hpp"

#include <filesystem>
#include <sstream>
#include <utility>

using namespace dsq;

namespace {

parse_result parse(std::vector<std::string> args, dsq_options& opts) {
  return parse_options(args, opts);
}

bool mentions(const parse_result& r, const std::string& what) {
  return !r.ok && r.error.find(what) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(command_line_sets_the_run) {
  dsq_options opts;
  auto r = parse({"--workers=8", "--method=sgd", "--lr=0.5", "--model=mlp:hidden=64,32",
                  "--batch=16", "--steps=0"},
                 opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.run.workers == 8u);
  BOOST_TEST(opts.run.method == "sgd");
  BOOST_TEST(opts.run.lr == 0.5);
  BOOST_TEST(opts.run.model == "mlp:hidden=64,32");
  BOOST_TEST(opts.run.steps == 0);
}

BOOST_AUTO_TEST_CASE(ini_file_is_read_and_command_line_wins) {
  temp_directory dir{"config"};
  auto file = dir.write("dsq-test.ini", "; comment\n[global]\nworkers=7\nmethod=\"ef-worker\"\n"
                                        "compressor=\"topk:k=0.01\"\n")
                  .string();
  dsq_options opts;
  auto r = parse({"--config=" + file, "--workers=3"}, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.run.workers == 3u);
  BOOST_TEST(opts.run.method == "ef-worker");
  BOOST_TEST(opts.run.compressor == "topk:k=0.01");
}

BOOST_AUTO_TEST_CASE(the_shipped_config_files_are_valid) {
  const char* source = std::getenv("DSQ_SOURCE_DIR"); // set by CTest
  BOOST_REQUIRE_MESSAGE(source != nullptr, "DSQ_SOURCE_DIR is not set");
  auto dir = std::filesystem::path{source} / "config";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".ini")
      continue;
    dsq_options opts;
    auto r = parse({"--config=" + entry.path().string()}, opts);
    BOOST_TEST(r.ok, entry.path() << ": " << r.error);
    ++files;
  }
  BOOST_TEST(files >= 5);
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_bad_values_in_ini_files_name_the_file) {
  temp_directory dir{"config"};
  auto typo = dir.write("dsq-typo.ini", "[global]\nwrokers=3\n").string();
  dsq_options a;
  auto r = parse({"--config=" + typo}, a);
  BOOST_TEST(mentions(r, "unknown option '--wrokers=3'"), r.error);
  BOOST_TEST(mentions(r, typo), r.error);
  auto bad = dir.write("dsq-bad.ini", "[global]\nworkers=\"many\"\n").string();
  dsq_options b;
  r = parse({"--config=" + bad}, b);
  BOOST_TEST(mentions(r, "invalid value"), r.error);
  auto broken = dir.write("dsq-broken.ini", "[global]\njust some words\n").string();
  dsq_options c;
  r = parse({"--config=" + broken}, c);
  BOOST_TEST(mentions(r, ":2: expected key=value"), r.error);
}

BOOST_AUTO_TEST_CASE(missing_config_file_is_an_error) {
  dsq_options opts;
  auto r = parse({"--config=/nonexistent/dsq.ini"}, opts);
  BOOST_TEST(mentions(r, "cannot read config file '/nonexistent/dsq.ini'"), r.error);
}

BOOST_AUTO_TEST_CASE(bad_command_lines_name_the_problem) {
  struct expectation {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& e : std::vector<expectation>{
           {{"--nope=1"}, "unknown option '--nope=1'"},
           {{"--workers=abc"}, "invalid value '--workers=abc'"},
           {{"--workers=0"}, "--workers=0"},
           {{"--method=adam"}, "unknown method"},
           {{"--compressor=topq:k=3"}, "unknown compressor"},
           {{"--compressor=topk:k=0"}, "--compressor=topk:k=0"},
           {{"--uplink-residual=maybe"}, "expected on or off"},
           {{"--batch=0"}, "--batch=0"},
           {{"--lr=-1"}, "--lr=-1: the step size must be positive"},
           {{"--lr=-1e-9"}, "--lr=-1e-09: the step size"}, // not "-0.000000"
           {{"--momentum=1.5"}, "--momentum=1.5: expected"},
           {{"--steps=10", "--epochs=1"}, "choose one"},
           {{"--mode=later"}, "expected sync or async"},
           {{"--staleness=3"}, "is for --mode=async"},
           {{"--mode=async", "--staleness=-2"}, "must be 0 or more"},
           {{"--slow-worker=1:0.5"}, "factor from 1 to 1000"},
           {{"--slow-worker=x"}, "not ID:FACTOR"},
           {{"--target-accuracy=1.5"}, "--target-accuracy"},
           {{"--lr-schedule=wobbly"}, "--lr-schedule=wobbly"},
           {{"--placement=numa"}, "--placement=numa: expected spread or os"},
           {{"--scheduling=fifo"}, "--scheduling=fifo: expected batch or normal"},
           {{"--tcp=udp"}, "--tcp=udp: expected eager or caf"},
           {{"--server-timeout=-1"}, "--server-timeout=-1: expected 0 (never) to 86400"},
           {{"--server-timeout=nan"}, "--server-timeout="},
           {{"--scheduler.policy=fifo"}, "--scheduler.policy=fifo: expected stealing or sharing"},
           {{"--scheduler.policy=testing"}, "--scheduler.policy=testing"},
           {{"extra"}, "unexpected argument 'extra'"},
       }) {
    dsq_options opts;
    auto r = parse(e.args, opts);
    BOOST_TEST(mentions(r, e.says), e.args.front() << " -> '" << r.error << "'");
  }
}

BOOST_AUTO_TEST_CASE(cafs_two_scheduler_policies_are_accepted) {
  for (const char* policy : {"stealing", "sharing"}) {
    dsq_options opts;
    auto r = parse({std::string{"--scheduler.policy="} + policy}, opts);
    BOOST_TEST(r.ok, policy << " -> '" << r.error << "'");
    BOOST_TEST(caf::to_string(caf::get_or(opts, "scheduler.policy", caf::atom("unset"))) == policy);
  }
}

BOOST_AUTO_TEST_CASE(help_is_recognised_and_lists_the_options) {
  dsq_options opts;
  auto r = parse({"--help"}, opts);
  BOOST_TEST(r.help);
  auto text = opts.options_help();
  for (const char* option : {"--method", "--compressor", "--workers", "--steps", "--epochs",
                             "--batch", "--lr", "--momentum", "--model", "--dataset", "--seed",
                             "--eval-every", "--metrics", "--summary", "--config=FILE"})
    BOOST_TEST(text.find(option) != std::string::npos, option);
}

BOOST_AUTO_TEST_CASE(presets_are_the_table_of_algorithm_md) {
  run_config cfg;
  cfg.compressor = "sign";
  auto check = [&](const char* method, const char* up, bool up_ef, const char* down, bool down_ef) {
    cfg.method = method;
    auto m = resolve_method(cfg);
    BOOST_TEST(m.uplink == up, method);
    BOOST_TEST(m.uplink_residual == up_ef, method);
    BOOST_TEST(m.downlink == down, method);
    BOOST_TEST(m.downlink_residual == down_ef, method);
  };
  check("sgd", "identity", false, "identity", false);
  check("compressed", "sign", false, "sign", false);
  check("ef-worker", "sign", true, "identity", false);
  check("doublesqueeze", "sign", true, "sign", true);
  cfg.method = "doublesqueeze";
  cfg.downlink = "topk:k=0.1";
  cfg.uplink_residual = "off";
  auto m = resolve_method(cfg);
  BOOST_TEST(m.downlink == "topk:k=0.1");
  BOOST_TEST(!m.uplink_residual);
  BOOST_TEST(m.downlink_residual);
}

BOOST_AUTO_TEST_CASE(steps_come_from_epochs_or_the_default) {
  run_config cfg;
  BOOST_TEST(total_steps(cfg, 60000) == default_steps);
  cfg.epochs = 1;
  cfg.workers = 4;
  cfg.batch = 32;
  BOOST_TEST(total_steps(cfg, 60000) == 469u); // ceil(60000 / 128)
  cfg.epochs = 0;
  cfg.steps = 0;
  BOOST_TEST(total_steps(cfg, 60000) == 0u);
}

// Values that fit their option's type but overflow where they are used: each error names the
// option (config/run_limits.hpp).
BOOST_AUTO_TEST_CASE(values_that_would_overflow_are_refused_naming_the_option) {
  struct expectation {
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& e : std::vector<expectation>{
           {{"--lr=1e39"}, "--lr=1e+39: beyond the largest float"},
           {{"--lr=1e-50"}, "--lr=1e-50: rounds to 0 as a float"},
           {{"--lr=nan"}, "--lr="},
           {{"--lr=inf"}, "--lr="},
           {{"--epochs=1e20"}, "--epochs=1e+20: more than the limit of 1e+06"},
           {{"--epochs=nan"}, "--epochs="},
           {{"--steps=1000000000001"}, "--steps=1000000000001: more than the limit of"},
           {{"--steps=1e20"}, "--steps=1e20"},
           {{"--workers=1000000"}, "--workers=1000000: more than the limit of 65536"},
           {{"--min-workers=1000000"}, "--min-workers="},
           {{"--batch=100000000"}, "--batch=100000000: more than the limit of 16777216"},
           {{"--connect-timeout=10000000000000"}, "--connect-timeout="},
       }) {
    dsq_options opts;
    auto r = parse(e.args, opts);
    BOOST_TEST(mentions(r, e.says), e.args.front() << " -> '" << r.error << "'");
  }
}

BOOST_AUTO_TEST_CASE(epochs_that_work_out_to_too_many_or_no_steps_are_errors) {
  run_config cfg;
  cfg.epochs = 1e6; // within the limit of --epochs, but 10^6 passes over 10^9 samples of batch 1
  cfg.workers = 1;
  cfg.batch = 1;
  BOOST_CHECK_EXCEPTION(total_steps(cfg, 1'000'000'000), config_error, [](const auto& e) {
    return std::string{e.what()}.find("--epochs=1e+06") != std::string::npos &&
           std::string{e.what()}.find("limit") != std::string::npos;
  });
  cfg.epochs = 1;
  BOOST_CHECK_EXCEPTION(total_steps(cfg, 0), config_error, [](const auto& e) {
    return std::string{e.what()}.find("no step to make") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(a_config_file_must_be_a_regular_file_of_reasonable_size) {
  {
    dsq_options opts;
    auto r = parse({"--config=/dev/zero"}, opts); // would be read forever
    BOOST_TEST(mentions(r, "config file '/dev/zero' is not a regular file"), r.error);
  }
  {
    dsq_options opts;
    auto r = parse({"--config=" + std::filesystem::temp_directory_path().string()}, opts);
    BOOST_TEST(mentions(r, "is not a regular file"), r.error);
  }
  {
    temp_directory dir{"config"};
    auto big = dir.write("big.ini", "[global]\n" + std::string(2 << 20, ';')).string();
    dsq_options opts;
    auto r = parse({"--config=" + big}, opts);
    BOOST_TEST(mentions(r, "more than the limit of 1048576"), r.error);
  }
}

BOOST_AUTO_TEST_CASE(fault_options_come_from_the_command_line_and_change_nothing_by_default) {
  {
    dsq_options opts;
    auto r = parse({}, opts);
    BOOST_REQUIRE_MESSAGE(r.ok, r.error);
    BOOST_TEST(make_fault_plan(opts.faults).empty());
    BOOST_TEST(opts.faults.log.empty());
  }
  dsq_options opts;
  auto r = parse({"--faults.drop=0.05", "--faults.reorder=0.1", "--faults.delay=2.5",
                  "--faults.bandwidth=100Mbit", "--faults.links=1,2,up",
                  "--faults.crash=1@100,2@200", "--faults.hang=3@50:2.5",
                  "--faults.server-crash=40", "--faults.seed=9", "--fault-log=faults.csv"},
                 opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.faults.drop == 0.05);
  BOOST_TEST(opts.faults.reorder == 0.1);
  BOOST_TEST(opts.faults.delay_ms == 2.5);
  BOOST_TEST(opts.faults.bandwidth == "100Mbit");
  BOOST_TEST(opts.faults.links == "1,2,up");
  BOOST_TEST(opts.faults.crash == "1@100,2@200");
  BOOST_TEST(opts.faults.hang == "3@50:2.5");
  BOOST_TEST(opts.faults.server_crash == "40");
  BOOST_TEST(opts.faults.seed == 9u);
  BOOST_TEST(opts.faults.log == "faults.csv");
  const auto plan = make_fault_plan(opts.faults);
  BOOST_TEST(plan.drop == 0.05);
  BOOST_TEST(plan.crash.size() == 2u);
  BOOST_TEST(plan.covers({2, link_direction::up}));
  BOOST_TEST(!plan.covers({2, link_direction::down}));
  const auto help = opts.options_help();
  for (const char* option : {"--fault-log", "--faults.drop", "--faults.server-crash"})
    BOOST_TEST(help.find(option) != std::string::npos, option);
}

BOOST_AUTO_TEST_CASE(a_faults_section_of_an_ini_file_is_read) {
  temp_directory dir{"config"};
  auto file = dir.write("dsq-faults.ini", "[global]\nworkers=3\nfault-log=\"f.csv\"\n"
                                          "[faults]\ndrop=0.05\nduplicate = 0.01\n"
                                          "links=\"1,down\"\npoison=2@7\nserver-crash=30\n")
                  .string();
  dsq_options opts;
  auto r = parse({"--config=" + file, "--faults.duplicate=0.02"}, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.run.workers == 3u);
  BOOST_TEST(opts.faults.drop == 0.05);
  BOOST_TEST(opts.faults.duplicate == 0.02); // the command line wins
  BOOST_TEST(opts.faults.links == "1,down");
  BOOST_TEST(opts.faults.poison == "2@7");
  BOOST_TEST(opts.faults.server_crash == "30");
  BOOST_TEST(opts.faults.log == "f.csv");
}

BOOST_AUTO_TEST_CASE(bad_fault_options_are_option_errors) {
  {
    dsq_options opts;
    auto r = parse({"--faults.drop=lots"}, opts);
    BOOST_TEST(mentions(r, "invalid value '--faults.drop=lots'"), r.error);
  }
  {
    dsq_options opts;
    auto r = parse({"--faults.dorp=0.1"}, opts);
    BOOST_TEST(mentions(r, "unknown option '--faults.dorp=0.1'"), r.error);
  }
  {
    temp_directory dir{"config"};
    auto file = dir.write("dsq-bad-faults.ini", "[faults]\ndelay=soon\n").string();
    dsq_options opts;
    auto r = parse({"--config=" + file}, opts);
    BOOST_TEST(mentions(r, "invalid value '--faults.delay=soon'"), r.error);
    BOOST_TEST(mentions(r, file), r.error);
  }
  // Values of the right type but out of range are refused when the plan is made.
  dsq_options opts;
  auto r = parse({"--faults.drop=1.5", "--faults.crash=1@x"}, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EXCEPTION(make_fault_plan(opts.faults), config_error, [](const auto& e) {
    return std::string{e.what()}.find("--faults.drop=1.5") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(data_dir_must_be_a_directory_and_stays_on_its_node) {
  temp_directory dir{"config"};
  dsq_options opts;
  auto r = parse({"--data-dir=" + dir.path().string()}, opts);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.run.data_dir == dir.path().string());
  // A directory of this host: never sent to workers, which have their own.
  BOOST_TEST(shared_training_part(opts.run).data_dir.empty());
  dsq_options missing;
  r = parse({"--data-dir=" + (dir.path() / "absent").string()}, missing);
  BOOST_TEST(mentions(r, "--data-dir=" + (dir.path() / "absent").string() + ": no such directory"),
             r.error);
  // The help names the option, and the spec syntax the data set sub-options.
  BOOST_TEST(opts.options_help(dsq_command::worker).find("--data-dir") != std::string::npos);
  const std::string specs{spec_syntax_help()};
  for (const char* part : {"zero_based=auto", "label=auto|first|last|name:COL",
                           "sep=auto|comma|semicolon|tab", "normalize=none|unit|standardize"})
    BOOST_TEST(specs.find(part) != std::string::npos, part);
}

BOOST_AUTO_TEST_CASE(data_names_where_a_worker_takes_the_data_from_and_stays_on_its_node) {
  for (const auto& [text, source] :
       std::vector<std::pair<std::string, data_origin>>{{"local", data_origin::local},
                                                        {"server", data_origin::server},
                                                        {"auto", data_origin::automatic}}) {
    dsq_options opts;
    auto r = parse_options({"--data=" + text}, opts, dsq_command::worker);
    BOOST_REQUIRE_MESSAGE(r.ok, r.error);
    BOOST_TEST((parse_data_origin(opts.run.data_origin) == source));
    BOOST_TEST(shared_training_part(opts.run).data_origin == "auto"); // never sent
  }
  dsq_options defaults;
  BOOST_TEST(defaults.run.data_origin == "auto");
  dsq_options bad;
  auto r = parse_options({"--data=disk"}, bad, dsq_command::worker);
  BOOST_TEST(mentions(r, "--data=disk: expected local, server or auto"), r.error);
  // An option of dsq worker only, in its help.
  dsq_options server;
  r = parse_options({"--data=server"}, server, dsq_command::server);
  BOOST_TEST(mentions(r, "--data is an option of dsq worker"), r.error);
  BOOST_TEST(defaults.options_help(dsq_command::worker).find("--data=FROM") != std::string::npos);
}

// -- Each command's options (issue 26) -----------------------------------------------------

BOOST_AUTO_TEST_CASE(each_commands_help_lists_exactly_the_options_it_uses) {
  dsq_options opts;
  for (auto command :
       {dsq_command::local, dsq_command::server, dsq_command::worker, dsq_command::launch}) {
    const auto help = opts.options_help(command);
    BOOST_TEST_CONTEXT(command_name(command)) {
      for (const auto& o : opts.options()) {
        const auto listed =
            help.find("\n  --" + o.name + (o.value.empty() ? "" : "=")) != std::string::npos ||
            help.find("\n  --" + o.name + " ") != std::string::npos ||
            help.find("\n  --" + o.name + ",") != std::string::npos;
        BOOST_TEST(listed == uses(o.commands, command), "--" << o.name);
      }
      std::istringstream lines{help};
      for (std::string line; std::getline(lines, line);)
        BOOST_TEST(line.size() <= 100u, line);
    }
  }
}

// dsq launch's own options (the run's go on to its processes: actors/run/launch.cpp).
BOOST_AUTO_TEST_CASE(dsq_launch_takes_its_own_options_and_the_others_refuse_them) {
  dsq_options opts;
  auto r = parse_options({"--hostfile=hosts", "--restart-workers=2", "--restart-server=1",
                          "--launch-command=ip netns exec {host}", "--oversubscribe",
                          "--tls-dir=certs", "--start-timeout=5", "--dsq-binary=/opt/dsq"},
                         opts, dsq_command::launch);
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_TEST(opts.launch.hostfile == "hosts");
  BOOST_TEST(opts.launch.restart_workers == 2u);
  BOOST_TEST(opts.launch.restart_server == 1u);
  BOOST_TEST(opts.launch.launch_command == "ip netns exec {host}");
  BOOST_TEST(opts.launch.oversubscribe);
  BOOST_TEST(opts.launch.tls_dir == "certs");
  BOOST_TEST(opts.launch.start_timeout_s == 5u);
  BOOST_TEST(opts.launch.dsq_binary == "/opt/dsq");
  BOOST_TEST(opts.launch.servers == 1u);
  dsq_options server;
  r = parse_options({"--hostfile=hosts"}, server, dsq_command::server);
  BOOST_TEST(mentions(r, "dsq server does not use --hostfile=hosts: --hostfile is an option of "
                         "dsq launch"),
             r.error);
}

BOOST_AUTO_TEST_CASE(an_option_a_command_does_not_use_is_refused_naming_who_uses_it) {
  struct expectation {
    dsq_command command;
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& e : std::vector<expectation>{
           {dsq_command::worker,
            {"--lr=5"},
            "dsq worker does not use --lr=5: --lr is an option of dsq local and dsq server"},
           {dsq_command::worker, {"-n", "3"}, "--workers is an option of dsq local and dsq server"},
           {dsq_command::server,
            {"--faults.drop=0.1"},
            "dsq server does not use --faults.drop=0.1: --faults.drop is an option of dsq local "
            "and dsq worker"},
           {dsq_command::local, {"--tls-ca=ca.pem"}, "an option of dsq server and dsq worker"},
           {dsq_command::local, {"--insecure"}, "--insecure is an option of dsq server"},
       }) {
    dsq_options opts;
    auto r = parse_options(e.args, opts, e.command);
    BOOST_TEST(mentions(r, e.says), e.args.front() << " -> '" << r.error << "'");
  }
  // What each command uses passes; without a command everything does (as before).
  for (const auto& [command, args] : std::vector<std::pair<dsq_command, std::vector<std::string>>>{
           {dsq_command::worker,
            {"--server=h:1", "--quiet", "--faults.drop=0.1", "--tcp=caf", "--fault-log=f.csv"}},
           {dsq_command::server, {"--port=1", "--lr=0.5", "--faults.server-crash=9", "-n", "2"}},
           {dsq_command::local, {"--lr=0.5", "--faults.rejoin=1@5", "--checkpoint=c"}}}) {
    dsq_options opts;
    auto r = parse_options(args, opts, command);
    BOOST_TEST(r.ok, command_name(command) << ": " << r.error);
  }
  dsq_options any;
  BOOST_TEST(parse({"--lr=5", "--server=h:1", "--faults.drop=0.1"}, any).ok);
}

// --servers=K and a follower's options (net/PROTOCOL.md, "Shards"); what a sharded run does not
// do yet is refused in one line naming the fix.
BOOST_AUTO_TEST_CASE(shard_options_are_checked_and_name_the_fix) {
  struct expectation {
    dsq_command command;
    std::vector<std::string> args;
    std::string says;
  };
  for (const auto& e : std::vector<expectation>{
           {dsq_command::local, {"--servers=0"}, "--servers=0: at least one parameter-server"},
           {dsq_command::local, {"--servers=65"}, "--servers=65: at most 64 shards"},
           {dsq_command::server,
            {"--servers=2", "--aggregate=krum:f=1", "--workers=5", "--max-workers=600"},
            "--aggregate=krum:f=1 takes at most 512 seats with shards, not 600: set "
            "--max-workers=512"},
           {dsq_command::server,
            {"--servers=2", "--shard-index=1"},
            "--shard-index=1 starts a follower shard: give --leader=HOST:PORT"},
           {dsq_command::server,
            {"--servers=2", "--shard-index=2", "--leader=h:1"},
            "--shard-index=2: a follower of --leader is shard 1..1 of --servers=2"},
           {dsq_command::server,
            {"--leader=h:1"},
            "--shard-index=0: a follower of --leader is shard 1..0 of --servers=1"},
           {dsq_command::server,
            {"--servers=2", "--shard-index=1", "--leader=h"},
            "--leader=h: expected HOST:PORT"},
           {dsq_command::server, {"--advertise=h"}, "--advertise is for a follower shard"},
           {dsq_command::worker,
            {"--servers=2"},
            "--servers is an option of dsq local, dsq "
            "server and dsq launch"},
       }) {
    dsq_options opts;
    auto r = parse_options(e.args, opts, e.command);
    BOOST_TEST(mentions(r, e.says), e.args.front() << " -> '" << r.error << "'");
  }
  for (const auto& [command, args] : std::vector<std::pair<dsq_command, std::vector<std::string>>>{
           {dsq_command::local, {"--servers=3", "--aggregate=median"}},
           // Each shard checks its range of the replicas, and the plan faults every link.
           {dsq_command::local, {"--servers=2", "--verify-replicas=5"}},
           {dsq_command::local, {"--servers=2", "--faults.drop=0.1", "--faults.duplicate=0.1"}},
           {dsq_command::server,
            {"--servers=2", "--shard-index=1", "--leader=h:1", "--faults.server-crash=5"}},
           {dsq_command::server,
            {"--servers=2", "--shard-index=1", "--leader=10.0.0.1:4242", "--advertise=10.0.0.2",
             "--port=4243"}}}) {
    dsq_options opts;
    auto r = parse_options(args, opts, command);
    BOOST_TEST(r.ok, command_name(command) << ": " << r.error);
  }
  dsq_options opts;
  BOOST_REQUIRE(parse_options({"--servers=4"}, opts, dsq_command::local).ok);
  BOOST_TEST(opts.run.servers == 4u);
  // A follower's own options stay on its node: a worker's welcome never carries them.
  opts.run.shard_index = 2;
  opts.run.leader = "h:1";
  opts.run.advertise = "a";
  auto shared = shared_training_part(opts.run);
  BOOST_TEST(shared.servers == 4u);
  BOOST_TEST(shared.shard_index == 0u);
  BOOST_TEST(shared.leader.empty());
  BOOST_TEST(shared.advertise.empty());
}

BOOST_AUTO_TEST_CASE(written_out_defaults_and_ids_beyond_the_workers_are_refused) {
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--steps=-1"}, "--steps=-1: must be 0 or more"},
           {{"--epochs=0"}, "--epochs=0: must be positive"},
           {{"--mode=async", "--staleness=-1"}, "--staleness=-1: must be 0 or more"},
           {{"--staleness=-1"}, "--staleness=-1"},
           {{"--lr", "0.1"}, "write --lr=0.1 (not '--lr 0.1')"},
           {{"--seed"}, "write --seed=N"},
           {{"--model=mlp:hidden="}, "--model=mlp:hidden="},
           {{"--model=mlp:hidden=999999999"}, "more than the limit of 100000000"},
           {{"--dataset=nope"}, "unknown data set 'nope'"},
       }) {
    dsq_options opts;
    auto r = parse(args, opts);
    BOOST_TEST(mentions(r, says), args.front() << " -> '" << r.error << "'");
  }
  dsq_options local;
  auto r = parse_options({"--workers=4", "--slow-worker=1:2,9:2"}, local, dsq_command::local);
  BOOST_TEST(mentions(r, "worker 9 does not exist (dsq local has --workers=4"), r.error);
  // dsq server: workers that join later take the next ids.
  dsq_options server;
  r = parse_options({"--workers=4", "--slow-worker=9:2"}, server, dsq_command::server);
  BOOST_TEST(r.ok, r.error);
}

BOOST_AUTO_TEST_CASE(a_key_given_twice_in_one_section_is_an_error_naming_both_lines) {
  BOOST_CHECK_EXCEPTION(
      read_ini("[global]\nlr=0.1\n\nlr = 0.2\n", "run.ini"), config_error, [](const auto& e) {
        return std::string{e.what()} == "run.ini:4: [global] lr is given twice, on lines 2 and 4";
      });
  BOOST_CHECK_EXCEPTION(read_ini("[faults]\ndrop=0.1\n[faults]\ndrop=0.2\n", "f.ini"), config_error,
                        [](const auto& e) {
                          return std::string{e.what()}.find("[faults] drop is given twice") !=
                                 std::string::npos;
                        });
  // The same key in two sections is two options.
  const auto entries = read_ini("[global]\nseed=1\n[faults]\nseed=2\n", "ok.ini");
  BOOST_REQUIRE_EQUAL(entries.size(), 2u);
  BOOST_TEST(entries[1].argument == "--faults.seed=2");
  BOOST_TEST(entries[1].line == 4);
}
