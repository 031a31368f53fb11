// dsq's runtime defaults (config/cli/runtime_defaults): what `dsq` runs with unless the user says
// otherwise, on the command line or in the INI file.
#define BOOST_TEST_MODULE runtime_defaults
#include <boost/test/unit_test.hpp>

#include "config/cli/dsq_options.hpp"
#include "config/cli/runtime_defaults.hpp"

#include <caf/defaults.hpp>
#include <caf/io/middleman.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

using namespace dsq;

namespace {

/// Options as `dsq` builds them: the runtime defaults first, then the user's arguments.
struct parsed_options {
  dsq_options opts;
  parse_result result;
  parsed_options(runtime_role role, const std::vector<std::string>& args) {
    opts.load<caf::io::middleman>();
    apply_runtime_defaults(opts, role);
    result = parse_options(args, opts);
  }
  std::string policy() const {
    return caf::to_string(caf::get_or(opts, "scheduler.policy", caf::atom("unset")));
  }
  std::size_t max_threads() const { return caf::get_or(opts, "scheduler.max-threads", 0ul); }
  std::size_t middleman_workers() const { return caf::get_or(opts, "middleman.workers", 99ul); }
};

/// stdout and stderr of `command` (bounded by `timeout`).
std::string output_of(const std::string& command) {
  std::string text;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe{
      popen(("timeout 60 " + command + " 2>&1").c_str(), "r"), pclose};
  BOOST_REQUIRE(pipe);
  std::array<char, 4096> buffer{};
  while (auto n = std::fread(buffer.data(), 1, buffer.size(), pipe.get()))
    text.append(buffer.data(), n);
  return text;
}

} // namespace

BOOST_AUTO_TEST_CASE(server_and_worker_get_the_chosen_defaults) {
  for (auto role : {runtime_role::server, runtime_role::worker}) {
    parsed_options p{role, {}};
    BOOST_REQUIRE(p.result.ok);
    BOOST_TEST(p.middleman_workers() == 0u);
    BOOST_TEST(p.policy() == "sharing");
    BOOST_TEST(p.max_threads() == 0u); // unset: CAF's own thread count
  }
}

BOOST_AUTO_TEST_CASE(local_keeps_cafs_settings) {
  parsed_options p{runtime_role::local, {}};
  BOOST_REQUIRE(p.result.ok);
  BOOST_TEST(p.middleman_workers() == 99u); // unset
  BOOST_TEST(p.policy() == "unset");
  BOOST_TEST(runtime_default_arguments(runtime_role::local).empty());
}

BOOST_AUTO_TEST_CASE(the_command_line_wins) {
  parsed_options p{runtime_role::server, {"--middleman.workers=2", "--scheduler.policy=stealing"}};
  BOOST_REQUIRE(p.result.ok);
  BOOST_TEST(p.middleman_workers() == 2u);
  BOOST_TEST(p.policy() == "stealing");
}

BOOST_AUTO_TEST_CASE(the_ini_file_wins) {
  auto path = std::filesystem::temp_directory_path() /
              ("dsq-runtime-defaults-" + std::to_string(::getpid()) + ".ini");
  std::ofstream{path}
      << "[global]\nworkers=2\n[middleman]\nworkers=3\n[scheduler]\npolicy='stealing'\n";
  parsed_options p{runtime_role::worker, {"--config=" + path.string()}};
  std::filesystem::remove(path);
  BOOST_REQUIRE_MESSAGE(p.result.ok, p.result.error);
  BOOST_TEST(p.middleman_workers() == 3u);
  BOOST_TEST(p.policy() == "stealing");
}

BOOST_AUTO_TEST_CASE(caf_default_arguments_restore_cafs_own_settings) {
  parsed_options p{runtime_role::server, caf_default_arguments()};
  BOOST_REQUIRE(p.result.ok);
  BOOST_TEST(p.middleman_workers() == caf::defaults::middleman::workers);
  BOOST_TEST(p.policy() == caf::to_string(caf::defaults::scheduler::policy));
}

/// The `middleman { ... }` group of a --dump-config output.
std::string middleman_group(const std::string& dump) {
  auto begin = dump.find("middleman {");
  if (begin == std::string::npos)
    return {};
  return dump.substr(begin, dump.find('}', begin) - begin);
}

BOOST_AUTO_TEST_CASE(the_dsq_command_applies_them) {
  // --dump-config prints the configuration that the actor system would start with.
  auto defaults = middleman_group(output_of(std::string{DSQ_BINARY} + " server --dump-config"));
  BOOST_TEST(defaults.find("workers = 0") != std::string::npos, defaults);
  auto chosen = middleman_group(
      output_of(std::string{DSQ_BINARY} + " worker --middleman.workers=2 --dump-config"));
  BOOST_TEST(chosen.find("workers = 2") != std::string::npos, chosen);
}

BOOST_AUTO_TEST_CASE(the_help_names_them) {
  const auto server = output_of(std::string{DSQ_BINARY} + " server --help");
  for (const auto& arg : runtime_default_arguments(runtime_role::server))
    BOOST_TEST(server.find(arg) != std::string::npos, arg);
  const auto local = output_of(std::string{DSQ_BINARY} + " local --help");
  BOOST_TEST(local.find("dsq local runs with CAF's defaults") != std::string::npos);
}
