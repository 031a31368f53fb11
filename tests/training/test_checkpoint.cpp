// The server's checkpoint: written atomically, read back exactly, damage reported.
#define BOOST_TEST_MODULE checkpoint
#include <boost/test/unit_test.hpp>

#include <boost/crc.hpp>

#include "small_tmpfs.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/checkpoint.hpp"
#include "training/push_check.hpp"
#include "training/training_spec.hpp"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

using namespace dsq;
namespace fs = std::filesystem;

namespace {

checkpoint sample() {
  checkpoint c;
  c.spec = training_spec_text(run_config{});
  c.version = 1234;
  c.model = Eigen::VectorXf::LinSpaced(1000, -1.0f, 1.0f);
  c.server_residual = Eigen::VectorXf::Constant(1000, 0.25f);
  c.server_rng = {1, 2, 3, 4};
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
  c.server_rng = {0x0123456789abcdefULL, 2, 0, 0xffffffffffffffffULL};
  c.members.next_id = 4;
  c.members.generation = 3;
  c.members.members[0] = shard_assignment{3, 0, 2};
  c.members.members[3] = shard_assignment{3, 1, 2};
  worker_snapshot w;
  w.worker_id = 3;
  w.version = 7;
  w.residual = {0.5f, -0.5f, 1e-40f, -0.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  w.rng = {9, 8, 7, 6};
  w.shard = shard_assignment{3, 1, 2};
  w.sampler_state = {12, 5};
  c.workers[3] = w;
  c.push_norms = {17.5, 0.0, 3.25, 1e-300};
  c.push_norm_peak = 21.75;
  return c;
}

/// Writes the CRC-32 of everything before the last 4 bytes of `bytes` into those 4 bytes.
void fix_checksum(std::string& bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size() - 4);
  const auto sum = crc.checksum();
  for (int i = 0; i < 4; ++i)
    bytes[bytes.size() - 4 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
}

/// Rewrites the format field of `file` and fixes the checksum: a well-formed file of that format.
void set_format(const fs::path& file, std::uint32_t format) {
  auto bytes = read_bytes(file);
  for (int i = 0; i < 4; ++i)
    bytes[4 + i] = static_cast<char>((format >> (8 * i)) & 0xff);
  fix_checksum(bytes);
  write_bytes(file, bytes);
}

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_is_exact) {
  temp_directory dir{"ckpt"};
  const auto where = dir.path() / "new"; // not there yet: write_checkpoint creates it
  auto c = sample();
  write_checkpoint(where.string(), c);
  BOOST_TEST(!fs::exists(where / "server.ckpt.tmp")); // renamed into place
  auto back = read_checkpoint(where.string());
  BOOST_TEST(back.version == 1234u);
  BOOST_TEST(back.spec == c.spec);
  BOOST_TEST(back.model == c.model);
  BOOST_TEST(back.server_residual == c.server_residual);
  BOOST_TEST(back.momentum.size() == 0);
}

BOOST_AUTO_TEST_CASE(rewriting_replaces_the_old_checkpoint) {
  temp_directory dir{"ckpt"};
  auto c = sample();
  write_checkpoint(dir.path().string(), c);
  c.version = 1300;
  c.model *= 2.0f;
  write_checkpoint(dir.path().string(), c);
  auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(back.version == 1300u);
  BOOST_TEST(back.model == c.model);
}

BOOST_AUTO_TEST_CASE(missing_truncated_and_foreign_files_are_reported) {
  temp_directory dir{"ckpt"};
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "no checkpoint"); });
  write_checkpoint(dir.path().string(), sample());
  auto file = dir.path() / "server.ckpt";
  auto size = fs::file_size(file);
  for (auto keep : {std::uintmax_t{0}, std::uintmax_t{6}, size / 2, size - 1}) {
    write_checkpoint(dir.path().string(), sample());
    fs::resize_file(file, keep);
    BOOST_CHECK_THROW(read_checkpoint(dir.path().string()), std::runtime_error);
  }
  std::ofstream{file, std::ios::trunc} << "this is not a checkpoint at all";
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "not a dsq checkpoint"); });
}

BOOST_AUTO_TEST_CASE(every_single_flipped_byte_is_refused) {
  temp_directory dir{"ckpt"};
  write_checkpoint(dir.path().string(), small_sample());
  const auto file = dir.path() / "server.ckpt";
  const auto good = read_bytes(file);
  int refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    write_bytes(file, bad);
    try {
      read_checkpoint(dir.path().string());
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
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "checksum"); });
}

BOOST_AUTO_TEST_CASE(every_truncation_is_refused) {
  temp_directory dir{"ckpt"};
  write_checkpoint(dir.path().string(), small_sample());
  const auto file = dir.path() / "server.ckpt";
  const auto good = read_bytes(file);
  for (std::size_t keep = 0; keep < good.size(); ++keep) {
    write_bytes(file, good.substr(0, keep));
    BOOST_CHECK_THROW(read_checkpoint(dir.path().string()), std::runtime_error);
  }
  write_bytes(file, good + "x"); // and an extended one
  BOOST_CHECK_THROW(read_checkpoint(dir.path().string()), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(a_directory_or_device_in_place_of_the_file_is_refused) {
  temp_directory dir{"ckpt"};
  fs::create_directories(dir.path() / "server.ckpt");
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "not a regular file"); });
}

BOOST_AUTO_TEST_CASE(non_finite_values_are_refused_naming_the_section) {
  temp_directory dir{"ckpt"};
  auto c = small_sample();
  c.model[3] = std::numeric_limits<float>::quiet_NaN();
  write_checkpoint(dir.path().string(), c); // a correct checksum over a NaN
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) {
                          return says(e, "'model'") && says(e, "not finite") && says(e, "index 3");
                        });
  c = small_sample();
  c.momentum[0] = -std::numeric_limits<float>::infinity();
  write_checkpoint(dir.path().string(), c);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
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
  temp_directory dir{"ckpt"};
  check_checkpoint_dir((dir.path() / "a" / "b").string()); // created
  BOOST_TEST(fs::is_directory(dir.path() / "a" / "b"));
  BOOST_TEST(fs::is_empty(dir.path() / "a" / "b")); // the probe file is gone
  std::ofstream{dir.path() / "file"} << "x";
  BOOST_CHECK_EXCEPTION(check_checkpoint_dir((dir.path() / "file").string()), std::runtime_error,
                        [](const auto& e) { return says(e, "checkpoint directory"); });
  BOOST_CHECK_EXCEPTION(check_checkpoint_dir((dir.path() / "file" / "sub").string()),
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

BOOST_AUTO_TEST_CASE(every_section_round_trips_exactly) {
  temp_directory dir{"ckpt"};
  const auto c = small_sample();
  write_checkpoint(dir.path().string(), c);
  const auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(back.version == c.version);
  BOOST_TEST(back.spec == c.spec);
  BOOST_TEST(back.model == c.model);
  BOOST_TEST(back.server_residual == c.server_residual);
  BOOST_TEST(back.momentum == c.momentum);
  BOOST_TEST(back.server_rng == c.server_rng);
  BOOST_TEST((back.members == c.members));
  BOOST_TEST(back.workers.size() == 1u);
  BOOST_TEST((back.workers.at(3) == c.workers.at(3)));
  // -0.0f and a denormal come back bit for bit, not merely equal.
  BOOST_TEST(std::signbit(back.workers.at(3).residual[3]));
  BOOST_TEST(back.workers.at(3).residual[2] == 1e-40f);
  BOOST_TEST(back.push_norms == c.push_norms);
  BOOST_TEST(back.push_norm_peak == c.push_norm_peak);
}

/// Writes `c` (its checksum correct) and tells whether reading it back is refused with a message
/// that names `section` and says `what`.
bool refused_saying(const temp_directory& dir, const checkpoint& c, const std::string& section,
                    const std::string& what) {
  write_checkpoint(dir.path().string(), c);
  try {
    read_checkpoint(dir.path().string());
  } catch (const std::runtime_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    return says(e, "'" + section + "'") && says(e, what);
  }
  return false;
}

BOOST_AUTO_TEST_CASE(push_norms_that_are_no_norms_or_too_many_are_refused) {
  temp_directory dir{"ckpt"};
  for (const auto& [norms, says_what] : std::vector<std::pair<std::vector<double>, std::string>>{
           {{1.0, -2.0}, "-2 at index 1, which is not a norm"},
           {{std::numeric_limits<double>::infinity()}, "which is not a norm"},
           {std::vector<double>(push_norm_window + 1, 1.0), "the push bound looks at 64"}}) {
    auto c = small_sample();
    c.push_norms = norms;
    BOOST_TEST(refused_saying(dir, c, "push_norms", says_what), says_what);
  }
}

BOOST_AUTO_TEST_CASE(a_push_norm_peak_that_is_no_norm_is_refused) {
  temp_directory dir{"ckpt"};
  for (double peak :
       {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    auto c = small_sample();
    c.push_norm_peak = peak;
    BOOST_TEST(refused_saying(dir, c, "push_norm_peak", "which is not a norm"), peak);
  }
}

using section_list = std::vector<std::pair<std::string, std::string>>;

/// Rewrites the body of the checkpoint `file` through `edit` (its named sections, in order) and
/// fixes its length and checksum: a file as another version of dsq would write it.
template <class Edit>
void rewrite_sections(const fs::path& file, Edit edit) {
  const auto bytes = read_bytes(file);
  std::istringstream in{bytes.substr(16, bytes.size() - 20)};
  std::string spec;
  std::uint64_t version = 0;
  std::uint32_t count = 0;
  section_list sections;
  {
    cereal::PortableBinaryInputArchive ar{in};
    ar(spec, version, count);
    for (std::uint32_t k = 0; k < count; ++k) {
      std::string name, content;
      ar(name, content);
      sections.emplace_back(name, content);
    }
  }
  edit(sections);
  std::ostringstream out;
  {
    cereal::PortableBinaryOutputArchive ar{out};
    ar(spec, version, static_cast<std::uint32_t>(sections.size()));
    for (const auto& [name, content] : sections)
      ar(name, content);
  }
  const auto body = out.str();
  std::string rebuilt = bytes.substr(0, 8);
  for (int i = 0; i < 8; ++i)
    rebuilt.push_back(static_cast<char>((std::uint64_t{body.size()} >> (8 * i)) & 0xff));
  rebuilt += body;
  rebuilt.append(4, '\0'); // the checksum's place
  fix_checksum(rebuilt);
  write_bytes(file, rebuilt);
}

// A checkpoint written before the push bound's sections existed still resumes, with the cold
// bound and no peak.
BOOST_AUTO_TEST_CASE(a_checkpoint_without_the_push_bound_reads_with_none) {
  temp_directory dir{"ckpt"};
  write_checkpoint(dir.path().string(), small_sample());
  rewrite_sections(dir.path() / "server.ckpt", [](section_list& sections) {
    for (const char* last : {"push_norm_peak", "push_norms"}) {
      BOOST_REQUIRE(!sections.empty());
      BOOST_REQUIRE_EQUAL(sections.back().first, last);
      sections.pop_back();
    }
  });
  const auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(back.push_norms.empty());
  BOOST_TEST(back.push_norm_peak == 0.0);
  BOOST_TEST(back.model == small_sample().model);
}

// The divergence check that came before divergence_probe kept the losses of recent pushes in a
// section "push_losses"; a file with it still resumes, without it.
BOOST_AUTO_TEST_CASE(a_checkpoint_with_the_earlier_loss_history_reads) {
  temp_directory dir{"ckpt"};
  const auto c = small_sample();
  write_checkpoint(dir.path().string(), c);
  rewrite_sections(dir.path() / "server.ckpt", [](section_list& sections) {
    sections.emplace_back("push_losses", std::string(8 + 4 * 3, '\0'));
  });
  const auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(back.push_norms == c.push_norms);
  BOOST_TEST(back.model == c.model);
}

BOOST_AUTO_TEST_CASE(a_checkpoint_without_worker_states_or_members_round_trips) {
  temp_directory dir{"ckpt"};
  auto c = sample(); // no momentum, no members, no workers: the final checkpoint of a run
  write_checkpoint(dir.path().string(), c);
  const auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(back.workers.empty());
  BOOST_TEST(back.members.members.empty());
  BOOST_TEST(back.server_rng == c.server_rng);
}

BOOST_AUTO_TEST_CASE(an_older_or_newer_format_is_refused_naming_it) {
  temp_directory dir{"ckpt"};
  write_checkpoint(dir.path().string(), small_sample());
  const auto file = dir.path() / "server.ckpt";
  set_format(file, 2);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) {
                          return says(e, "checkpoint format 2") && says(e, "older") &&
                                 says(e, "reads formats 3 to 4");
                        });
  set_format(file, 5);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "checkpoint format 5"); });
  set_format(file, 4);
  BOOST_CHECK_NO_THROW(read_checkpoint(dir.path().string()));
  // Format 3 differs only in the workers' sampler state (two words, no count): a checkpoint
  // without workers' states reads the same in both.
  auto no_workers = small_sample();
  no_workers.workers.clear();
  write_checkpoint(dir.path().string(), no_workers);
  set_format(file, 3);
  BOOST_CHECK_NO_THROW(read_checkpoint(dir.path().string()));
}

BOOST_AUTO_TEST_CASE(sampler_state_words_round_trip_and_more_than_64_are_refused) {
  temp_directory dir{"ckpt"};
  auto c = small_sample();
  c.workers[3].sampler_state.assign(max_state_words, 0);
  for (std::size_t i = 0; i < max_state_words; ++i)
    c.workers[3].sampler_state[i] = 0x9e3779b97f4a7c15ULL * (i + 1);
  write_checkpoint(dir.path().string(), c);
  BOOST_TEST((read_checkpoint(dir.path().string()).workers.at(3) == c.workers.at(3)));
  c.workers[3].sampler_state.push_back(1);
  write_checkpoint(dir.path().string(), c);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "65 words, more than 64"); });
}

BOOST_AUTO_TEST_CASE(a_torn_write_leaves_the_previous_checkpoint_readable) {
  temp_directory dir{"ckpt"};
  write_checkpoint(dir.path().string(), small_sample());
  // A writer killed mid-write leaves half a temporary file; the checkpoint is untouched.
  const auto good = read_bytes(dir.path() / "server.ckpt");
  write_bytes(dir.path() / "server.ckpt.tmp", good.substr(0, good.size() / 2));
  BOOST_TEST(read_checkpoint(dir.path().string()).version == 7u);
  auto c = small_sample();
  c.version = 8;
  for (auto& [id, w] : c.workers)
    w.version = 8;
  write_checkpoint(dir.path().string(), c); // replaces the torn temporary file
  BOOST_TEST(!fs::exists(dir.path() / "server.ckpt.tmp"));
  BOOST_TEST(read_checkpoint(dir.path().string()).version == 8u);
}

BOOST_AUTO_TEST_CASE(inconsistent_worker_states_are_refused) {
  temp_directory dir{"ckpt"};
  const auto file = (dir.path() / "server.ckpt").string();
  auto refused = [&](const checkpoint& c, const std::string& what) {
    write_checkpoint(dir.path().string(), c); // a correct checksum over bad content
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                          [&](const auto& e) { return says(e, file) && says(e, what); });
  };
  auto c = small_sample();
  c.workers.at(3).residual.resize(7);
  refused(c, "worker 3's residual has 7 values, the model 8 parameters");
  c = small_sample();
  c.workers.at(3).residual.clear(); // no residual: allowed
  write_checkpoint(dir.path().string(), c);
  BOOST_TEST(read_checkpoint(dir.path().string()).workers.at(3).residual.empty());
  c = small_sample();
  c.workers.at(3).residual[1] = std::numeric_limits<float>::infinity();
  refused(c, "'workers'");
  c = small_sample();
  c.workers.at(3).version = 6;
  refused(c, "state of step 6 in a checkpoint of step 7");
  c = small_sample();
  c.workers.at(3).worker_id = 2;
  refused(c, "worker 2's state under worker 3");
  c = small_sample();
  c.workers.at(3).rng = {1, 2};
  refused(c, "2 words instead of 4");
  c = small_sample();
  c.workers.at(3).shard = shard_assignment{3, 2, 2};
  refused(c, "shard 2 of 2");
}

BOOST_AUTO_TEST_CASE(a_malformed_random_stream_or_membership_is_refused) {
  temp_directory dir{"ckpt"};
  auto refused = [&](const checkpoint& c, const std::string& what) {
    write_checkpoint(dir.path().string(), c);
    BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                          [&](const auto& e) { return says(e, what); });
  };
  auto c = small_sample();
  c.server_rng.clear();
  refused(c, "'server_rng' holds a random stream of 0 words");
  c.server_rng.assign(4, 0);
  refused(c, "all-zero");
  c = small_sample();
  c.members.members[4] = shard_assignment{3, 0, 1};
  refused(c, "member 4, an id never handed out");
  c = small_sample();
  c.members.members[0].generation = 9;
  refused(c, "generation 9");
  c = small_sample();
  c.members.members[0].count = 0;
  refused(c, "shard 0 of 0");
}
