// Where data is looked for (model/data_locations.hpp): the path as given, the data directory
// (--data-dir, else DSQ_DATA_DIR), the installed data, the repository's data/; for data files
// and for MNIST, and what a run is told when MNIST is in none of them.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "model/data_error.hpp"
#include "model/data_locations.hpp"
#include "model/load_dataset.hpp"
#include "model/mnist.hpp"

#include "idx_files.hpp"
#include "scoped_env.hpp"
#include "tests/support/temp_directory.hpp"
#include "thrown_message.hpp"

namespace {

using paths = std::vector<std::filesystem::path>;

void write_file(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

// A small CSV whose first feature tells which copy was read.
std::string tagged_csv(int tag) {
  return "x,y,label\n" + std::to_string(tag) + ",1,0\n" + std::to_string(tag) + ",2,1\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(data_locations)

BOOST_AUTO_TEST_CASE(a_relative_path_is_looked_for_as_given_then_under_each_data_root) {
  const dsq::data_locations where{"/d", "/installed", "/repo"};
  BOOST_TEST((where.data_roots() == paths{"/d", "/installed", "/repo/data"}));
  BOOST_TEST((dsq::data_path_candidates("x.csv", where) ==
              paths{"x.csv", "/d/x.csv", "/installed/x.csv", "/repo/data/x.csv"}));
  // An absolute path is only itself; empty roots are skipped and repeats dropped.
  BOOST_TEST((dsq::data_path_candidates("/abs/x.csv", where) == paths{"/abs/x.csv"}));
  const dsq::data_locations repeated{"/repo/data", "", "/repo"};
  BOOST_TEST((dsq::data_path_candidates("x.csv", repeated) == paths{"x.csv", "/repo/data/x.csv"}));
  BOOST_TEST((dsq::mnist_search_path(where) ==
              paths{"data/mnist", "/d/mnist", "/installed/mnist", "/repo/data/mnist"}));
}

BOOST_AUTO_TEST_CASE(the_data_dir_is_the_option_else_dsq_data_dir) {
  {
    scoped_env env("DSQ_DATA_DIR", "/from/env");
    BOOST_TEST(dsq::default_data_locations().data_dir == "/from/env");
    BOOST_TEST(dsq::default_data_locations("/from/option").data_dir == "/from/option");
  }
  scoped_env unset("DSQ_DATA_DIR", std::nullopt);
  BOOST_TEST(dsq::default_data_locations().data_dir.empty());
}

BOOST_AUTO_TEST_CASE(the_repository_is_dsq_source_dir_else_the_tree_this_was_built_from) {
  {
    scoped_env env("DSQ_SOURCE_DIR", "/some/checkout");
    BOOST_TEST(dsq::default_data_locations().repository == "/some/checkout");
  }
  scoped_env unset("DSQ_SOURCE_DIR", std::nullopt);
  const auto repository = dsq::default_data_locations().repository;
  BOOST_TEST(std::filesystem::exists(repository / "model" / "data_locations.hpp"),
             repository.string());
}

BOOST_AUTO_TEST_CASE(a_data_file_is_found_in_the_working_directory_first_then_the_data_dir) {
  temp_directory dir;
  write_file(dir.path() / "cwd" / "set.csv", tagged_csv(1));
  write_file(dir.path() / "data-dir" / "set.csv", tagged_csv(2));
  write_file(dir.path() / "data-dir" / "only-here.csv", tagged_csv(3));
  const dsq::data_locations where{dir.path() / "data-dir", "", ""};
  scoped_working_directory cwd(dir.path() / "cwd");
  const auto spec = [](const char* file) {
    return std::string("csv:path=") + file + ",test=" + file + ",normalize=none";
  };
  BOOST_TEST(dsq::load_dataset(spec("set.csv"), 0, where).train.features(0, 0) == 1.0f);
  const auto data = dsq::load_dataset(spec("only-here.csv"), 0, where);
  BOOST_TEST(data.train.features(0, 0) == 3.0f);
  BOOST_TEST(contains(data.description, (dir.path() / "data-dir" / "only-here.csv").string()),
             data.description);
  // Through DSQ_DATA_DIR, for callers without an option.
  {
    scoped_env env("DSQ_DATA_DIR", (dir.path() / "data-dir").string());
    BOOST_TEST(dsq::load_dataset(spec("only-here.csv"), 0).train.features(0, 0) == 3.0f);
  }
  const auto missing = message_of([&] { dsq::load_dataset(spec("absent.csv"), 0, where); });
  BOOST_TEST(contains(missing, "absent.csv: file not found (looked in: absent.csv, " +
                                   (dir.path() / "data-dir" / "absent.csv").string()),
             missing);
  BOOST_TEST(contains(missing, "--data-dir"), missing);
}

BOOST_AUTO_TEST_CASE(mnist_is_taken_from_the_first_place_that_holds_it) {
  temp_directory dir;
  const auto data_dir = dir.path() / "data-dir", installed = dir.path() / "installed",
             repository = dir.path() / "repository";
  write_tiny_mnist(installed / "mnist");
  write_tiny_mnist(repository / "data" / "mnist");
  std::filesystem::create_directories(dir.path() / "cwd");
  scoped_working_directory cwd(dir.path() / "cwd");
  const dsq::data_locations where{data_dir, installed, repository};
  BOOST_TEST(dsq::find_mnist_directory(where).value() == installed / "mnist");
  write_tiny_mnist(data_dir / "mnist");
  BOOST_TEST(dsq::find_mnist_directory(where).value() == data_dir / "mnist");
  write_tiny_mnist(dir.path() / "cwd" / "data" / "mnist");
  BOOST_TEST(dsq::find_mnist_directory(where).value() == std::filesystem::path("data/mnist"));
  BOOST_TEST(dsq::load_dataset("mnist", 0, where).train.size() == 3u);
  // A relative dir= follows the same order.
  write_tiny_mnist(data_dir / "digits");
  BOOST_TEST(dsq::locate_mnist("digits", where) == data_dir / "digits");
  BOOST_TEST(dsq::load_dataset("mnist:dir=digits", 0, where).test.size() == 2u);
}

BOOST_AUTO_TEST_CASE(missing_mnist_is_its_own_error_listing_where_it_looked_and_the_fixes) {
  temp_directory dir;
  std::filesystem::create_directories(dir.path() / "cwd");
  scoped_working_directory cwd(dir.path() / "cwd");
  const dsq::data_locations where{dir.path() / "d", dir.path() / "i", dir.path() / "r"};
  const paths searched{"data/mnist", dir.path() / "d" / "mnist", dir.path() / "i" / "mnist",
                       dir.path() / "r" / "data" / "mnist"};
  try {
    dsq::load_dataset("mnist", 0, where);
    BOOST_FAIL("no mnist_not_found thrown");
  } catch (const dsq::mnist_not_found& e) {
    BOOST_TEST((e.searched() == searched));
    const std::string message = e.what();
    std::string listed;
    for (const auto& p : searched)
      listed += (listed.empty() ? "" : ", ") + p.string();
    BOOST_TEST(contains(message, "MNIST not found (looked in: " + listed + ")"), message);
    for (const char* fix : {"scripts/setup.sh", "--data-dir=", "DSQ_DATA_DIR"})
      BOOST_TEST(contains(message, fix), message);
  }
  // The same through the environment: DSQ_DATA_DIR set, then unset.
  scoped_env repository("DSQ_SOURCE_DIR", (dir.path() / "r").string());
  {
    scoped_env env("DSQ_DATA_DIR", (dir.path() / "d").string());
    BOOST_CHECK_THROW(dsq::load_dataset("mnist", 0), dsq::mnist_not_found);
    write_tiny_mnist(dir.path() / "d" / "mnist");
    BOOST_TEST(dsq::mnist_available());
  }
  scoped_env unset("DSQ_DATA_DIR", std::nullopt);
  BOOST_TEST(!dsq::mnist_available());
  write_tiny_mnist(dir.path() / "r" / "data" / "mnist");
  BOOST_TEST(dsq::find_mnist_directory().value() == dir.path() / "r" / "data" / "mnist");
}

BOOST_AUTO_TEST_SUITE_END()
