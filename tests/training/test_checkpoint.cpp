// The server's checkpoint: written atomically, read back exactly, damage reported.
#define BOOST_TEST_MODULE checkpoint
#include <boost/test/unit_test.hpp>

#include "training/checkpoint.hpp"

#include <filesystem>
#include <fstream>

using namespace dsq;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("dsq-ckpt-" + std::to_string(::getpid()));
  temp_dir() { fs::remove_all(path); }
  ~temp_dir() { fs::remove_all(path); }
};

checkpoint sample() {
  checkpoint c;
  c.version = 1234;
  c.model = Eigen::VectorXf::LinSpaced(1000, -1.0f, 1.0f);
  c.server_residual = Eigen::VectorXf::Constant(1000, 0.25f);
  return c;
}

bool says(const std::runtime_error& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_exact) {
  temp_dir dir;
  auto c = sample();
  write_checkpoint(dir.path.string(), c);
  BOOST_TEST(!fs::exists(dir.path / "server.ckpt.tmp")); // renamed into place
  auto back = read_checkpoint(dir.path.string());
  BOOST_TEST(back.version == 1234u);
  BOOST_TEST(back.model == c.model);
  BOOST_TEST(back.server_residual == c.server_residual);
  BOOST_TEST(back.momentum.size() == 0);
}

BOOST_AUTO_TEST_CASE(rewriting_replaces_the_old_checkpoint) {
  temp_dir dir;
  auto c = sample();
  write_checkpoint(dir.path.string(), c);
  c.version = 1300;
  c.model *= 2.0f;
  write_checkpoint(dir.path.string(), c);
  auto back = read_checkpoint(dir.path.string());
  BOOST_TEST(back.version == 1300u);
  BOOST_TEST(back.model == c.model);
}

BOOST_AUTO_TEST_CASE(missing_truncated_and_foreign_files_are_reported) {
  temp_dir dir;
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error,
                        [](const auto& e) { return says(e, "no checkpoint"); });
  write_checkpoint(dir.path.string(), sample());
  auto file = dir.path / "server.ckpt";
  auto size = fs::file_size(file);
  for (auto keep : {std::uintmax_t{0}, std::uintmax_t{6}, size / 2, size - 1}) {
    write_checkpoint(dir.path.string(), sample());
    fs::resize_file(file, keep);
    BOOST_CHECK_THROW(read_checkpoint(dir.path.string()), std::runtime_error);
  }
  std::ofstream{file, std::ios::trunc} << "this is not a checkpoint at all";
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error,
                        [](const auto& e) { return says(e, "not a dsq checkpoint"); });
}
