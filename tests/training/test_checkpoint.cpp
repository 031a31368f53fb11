// The server's checkpoint: written atomically, read back exactly, damage reported.
#define BOOST_TEST_MODULE checkpoint
#include <boost/test/unit_test.hpp>

#include "small_tmpfs.hpp"
#include "training/checkpoint.hpp"
#include "training/training_spec.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

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
  c.spec = training_spec_text(run_config{});
  c.version = 1234;
  c.model = Eigen::VectorXf::LinSpaced(1000, -1.0f, 1.0f);
  c.server_residual = Eigen::VectorXf::Constant(1000, 0.25f);
  return c;
}

bool says(const std::runtime_error& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream{file, std::ios::binary | std::ios::trunc} << bytes;
}

/// A small checkpoint with every section, so that every byte can be damaged in turn.
checkpoint small_sample() {
  checkpoint c;
  c.spec = training_spec_text(run_config{});
  c.version = 7;
  c.model = Eigen::VectorXf::LinSpaced(8, -1.0f, 1.0f);
  c.server_residual = Eigen::VectorXf::Constant(8, 0.5f);
  c.momentum = Eigen::VectorXf::Constant(8, -0.25f);
  return c;
}

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_exact) {
  temp_dir dir;
  auto c = sample();
  write_checkpoint(dir.path.string(), c);
  BOOST_TEST(!fs::exists(dir.path / "server.ckpt.tmp")); // renamed into place
  auto back = read_checkpoint(dir.path.string());
  BOOST_TEST(back.version == 1234u);
  BOOST_TEST(back.spec == c.spec);
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

BOOST_AUTO_TEST_CASE(every_single_flipped_byte_is_refused) {
  temp_dir dir;
  write_checkpoint(dir.path.string(), small_sample());
  const auto file = dir.path / "server.ckpt";
  const auto good = read_bytes(file);
  int refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    write_bytes(file, bad);
    try {
      read_checkpoint(dir.path.string());
      BOOST_ERROR("byte " << i << " flipped was accepted");
    } catch (const std::runtime_error& e) {
      ++refused;
      BOOST_TEST(says(e, file.string()), e.what());
    }
  }
  BOOST_TEST(refused == static_cast<int>(good.size()));
  // A flip in the content is reported as damage, not as something else.
  auto bad = good;
  bad[good.size() / 2] = static_cast<char>(bad[good.size() / 2] ^ 0x01);
  write_bytes(file, bad);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error,
                        [](const auto& e) { return says(e, "checksum"); });
}

BOOST_AUTO_TEST_CASE(every_truncation_is_refused) {
  temp_dir dir;
  write_checkpoint(dir.path.string(), small_sample());
  const auto file = dir.path / "server.ckpt";
  const auto good = read_bytes(file);
  for (std::size_t keep = 0; keep < good.size(); ++keep) {
    write_bytes(file, good.substr(0, keep));
    BOOST_CHECK_THROW(read_checkpoint(dir.path.string()), std::runtime_error);
  }
  write_bytes(file, good + "x"); // and an extended one
  BOOST_CHECK_THROW(read_checkpoint(dir.path.string()), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(a_directory_or_device_in_place_of_the_file_is_refused) {
  temp_dir dir;
  fs::create_directories(dir.path / "server.ckpt");
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error,
                        [](const auto& e) { return says(e, "not a regular file"); });
}

BOOST_AUTO_TEST_CASE(non_finite_values_are_refused_naming_the_section) {
  temp_dir dir;
  auto c = small_sample();
  c.model[3] = std::numeric_limits<float>::quiet_NaN();
  write_checkpoint(dir.path.string(), c); // a correct checksum over a NaN
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error, [](const auto& e) {
    return says(e, "'model'") && says(e, "not finite") && says(e, "index 3");
  });
  c = small_sample();
  c.momentum[0] = -std::numeric_limits<float>::infinity();
  write_checkpoint(dir.path.string(), c);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path.string()), std::runtime_error,
                        [](const auto& e) { return says(e, "'momentum'"); });
}

BOOST_AUTO_TEST_CASE(resuming_with_another_specification_names_the_difference) {
  run_config written;
  written.seed = 1;
  checkpoint c = small_sample();
  c.spec = training_spec_text(written);
  run_config same = written;
  same.steps = 99999; // how long, where outputs go: not part of the specification
  same.workers = 7;
  same.metrics = "elsewhere.csv";
  BOOST_CHECK_NO_THROW(check_same_training(c, same));
  run_config other = written;
  other.seed = 2;
  BOOST_CHECK_EXCEPTION(check_same_training(c, other), std::runtime_error, [](const auto& e) {
    return says(e, "checkpoint was written with --seed=1, this run has --seed=2");
  });
  other.lr = 0.05;
  other.model = "softmax";
  BOOST_CHECK_EXCEPTION(check_same_training(c, other), std::runtime_error, [](const auto& e) {
    return says(e, "--seed=2") && says(e, "this run has --lr=0.05") &&
           says(e, "this run has --model=softmax");
  });
}

BOOST_AUTO_TEST_CASE(the_checkpoint_directory_is_checked_before_training) {
  temp_dir dir;
  check_checkpoint_dir((dir.path / "a" / "b").string()); // created
  BOOST_TEST(fs::is_directory(dir.path / "a" / "b"));
  BOOST_TEST(fs::is_empty(dir.path / "a" / "b")); // the probe file is gone
  std::ofstream{dir.path / "file"} << "x";
  BOOST_CHECK_EXCEPTION(check_checkpoint_dir((dir.path / "file").string()), std::runtime_error,
                        [](const auto& e) { return says(e, "checkpoint directory"); });
  BOOST_CHECK_EXCEPTION(check_checkpoint_dir((dir.path / "file" / "sub").string()),
                        std::runtime_error, [](const auto& e) { return says(e, "/file/sub"); });
}

BOOST_AUTO_TEST_CASE(a_full_disk_fails_the_write_and_keeps_the_old_checkpoint) {
  small_tmpfs fs;
  if (!fs.mounted()) {
    BOOST_TEST_MESSAGE("skipped: cannot mount a tmpfs (" << fs.why_not() << ")");
    return;
  }
  const auto dir = (fs.path() / "ckpt").string();
  write_checkpoint(dir, small_sample());
  fs.fill();
  BOOST_CHECK_EXCEPTION(check_checkpoint_dir(dir), std::runtime_error, [&](const auto& e) {
    return says(e, dir) && says(e, "No space left on device");
  });
  BOOST_CHECK_EXCEPTION(write_checkpoint(dir, sample()), std::runtime_error, [&](const auto& e) {
    return says(e, "cannot write checkpoint '" + dir) && says(e, "No space left on device");
  });
  BOOST_TEST(!fs::exists(fs::path{dir} / "server.ckpt.tmp"));
  BOOST_TEST(read_checkpoint(dir).version == 7u); // the previous one, intact
}
