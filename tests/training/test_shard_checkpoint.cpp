// Checkpoints of a sharded run without actors (--servers=K > 1 with --checkpoint/--resume;
// net/PROTOCOL.md "Shards"): the sections a sharded run adds to the checkpoint container, a
// follower's slice file (written, pruned, read back and refused when it is not the one the
// leader's checkpoint names), the leader's cut (its checkpoint is complete only once every
// follower confirmed), and a follower core that saves on the leader's order and resumes from
// its slice file.
#define BOOST_TEST_MODULE shard_checkpoint
#include <boost/test/unit_test.hpp>

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "config/method.hpp"
#include "tests/support/temp_directory.hpp"
#include "training/shard/checkpoint_cut.hpp"
#include "training/shard/shard_core.hpp"
#include "training/shard/slice_checkpoint.hpp"
#include "training/training_setup.hpp"
#include "training/training_spec.hpp"

#include "shard_core_support.hpp"

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

using namespace dsq;
using namespace std::chrono_literals;
using namespace dsq::shard_test;
namespace fs = std::filesystem;

namespace {

bool says(const std::exception& e, const std::string& what) {
  return std::string{e.what()}.find(what) != std::string::npos;
}

/// Follower 1 of 2's slice state at `version`: a range of 6 of a model of 10.
checkpoint slice_state(std::uint64_t version, float value = 0.5f) {
  checkpoint c;
  c.spec = training_spec_text(run_config{});
  c.version = version;
  c.model = Eigen::VectorXf::Constant(6, value);
  c.server_residual = Eigen::VectorXf::Constant(6, 0.25f);
  c.momentum = Eigen::VectorXf::Constant(6, -0.125f);
  c.server_rng = {1, 2, 3, 4};
  c.push_norms = {1.5, 2.5};
  c.push_norm_peak = 2.0;
  c.slice = slice_identity{1, 2, key_range{4, 10}};
  return c;
}

run_config small_run() {
  run_config cfg;
  cfg.dataset = "synthetic:n=200,d=8,classes=2";
  cfg.model = "softmax";
  cfg.workers = 1;
  cfg.steps = 10;
  cfg.batch = 4;
  cfg.eval_every = 0;
  cfg.seed = 1;
  cfg.momentum = 0.5;
  return cfg;
}

/// Follower 1 of 2 with one worker (id 0, peer 10), set up at version 0, that made version 1
/// from one push of every coordinate `value`.
struct follower {
  run_config cfg = small_run();
  shard_setup setup = setup_of(cfg);
  shard_core core;

  explicit follower(shard_storage storage) : core{1, 2, "", std::move(storage)} {
    core.set_up(setup, t0);
    core.member_changed(member_change{0, 0, true}, t0);
    registration r;
    r.peer = 10;
    r.returning = true;
    r.previous_id = 0;
    core.registered(r, t0);
  }

  void make_version(std::uint64_t v, float value) {
    core.pushed(10, slice_push(cfg, 0, v - 1, setup.ranges[1].size(), value), t0);
    round_commit c;
    c.version = v;
    c.workers = {0};
    c.keys = {v - 1};
    core.committed(c, t0);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(container)

BOOST_AUTO_TEST_CASE(an_unsharded_checkpoint_has_neither_shards_nor_slice) {
  temp_directory dir{"shard-ckpt"};
  auto c = slice_state(3);
  c.slice.reset();
  write_checkpoint(dir.path().string(), c);
  auto back = read_checkpoint(dir.path().string());
  BOOST_TEST(!back.shards.has_value());
  BOOST_TEST(!back.slice.has_value());
}

BOOST_AUTO_TEST_CASE(a_leaders_shard_set_round_trips_and_its_residual_is_range_0s) {
  temp_directory dir{"shard-ckpt"};
  checkpoint c;
  c.version = 8;
  c.model = Eigen::VectorXf::LinSpaced(10, -1.0f, 1.0f);
  c.momentum = Eigen::VectorXf::Constant(10, 0.5f);
  c.server_residual = Eigen::VectorXf::Constant(4, 0.25f); // range 0's δ
  c.server_rng = {1, 2, 3, 4};
  c.shards = shard_set{{{0, 4}, {4, 10}}, {0, 0xdeadbeef}};
  write_checkpoint(dir.path().string(), c);
  auto back = read_checkpoint(dir.path().string());
  BOOST_REQUIRE(back.shards.has_value());
  BOOST_TEST((back.shards->ranges == c.shards->ranges));
  BOOST_TEST(back.shards->digests == c.shards->digests);
  BOOST_TEST(back.model == c.model);
  BOOST_TEST(back.server_residual == c.server_residual);
  // Ranges that do not cover the model are refused.
  c.shards->ranges = {{0, 4}, {4, 9}};
  write_checkpoint(dir.path().string(), c);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "its shards cover 9 coordinates"); });
  c.shards->ranges = {{0, 4}, {5, 10}};
  write_checkpoint(dir.path().string(), c);
  BOOST_CHECK_EXCEPTION(read_checkpoint(dir.path().string()), std::runtime_error,
                        [](const auto& e) { return says(e, "range 1 from 5, not from 4"); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(slice_files)

BOOST_AUTO_TEST_CASE(a_slice_file_round_trips_and_its_digest_is_its_crc) {
  temp_directory dir{"shard-ckpt"};
  const auto digest = write_slice_checkpoint(dir.path().string(), slice_state(5), 0);
  BOOST_TEST(fs::exists(dir.path() / "shard-1-step-5.ckpt"));
  BOOST_TEST(!fs::exists(dir.path() / "shard-1-step-5.ckpt.tmp"));
  auto back = read_slice_checkpoint(dir.path().string(), {1, 2, key_range{4, 10}, 5, digest});
  BOOST_TEST(back.version == 5u);
  BOOST_TEST(back.model == slice_state(5).model);
  BOOST_TEST(back.server_residual == slice_state(5).server_residual);
  BOOST_TEST(back.momentum == slice_state(5).momentum);
  BOOST_TEST(back.server_rng == slice_state(5).server_rng);
  BOOST_TEST(back.push_norms == slice_state(5).push_norms);
  BOOST_TEST(back.push_norm_peak == 2.0);
  // The same state gives the same bytes: the digest names the content.
  BOOST_TEST(write_slice_checkpoint(dir.path().string(), slice_state(5), 0) == digest);
  BOOST_TEST(write_slice_checkpoint(dir.path().string(), slice_state(5, 0.75f), 0) != digest);
}

BOOST_AUTO_TEST_CASE(only_files_before_keep_are_removed) {
  temp_directory dir{"shard-ckpt"};
  const auto d = dir.path().string();
  for (std::uint64_t v : {10, 20, 30})
    write_slice_checkpoint(d, slice_state(v), 0);
  std::ofstream{dir.path() / "shard-2-step-10.ckpt"} << "another shard's";
  std::ofstream{dir.path() / "server.ckpt"} << "the leader's";
  // The leader's newest complete checkpoint is of step 20: step 10 goes, 20 and 30 stay.
  write_slice_checkpoint(d, slice_state(40), 20);
  BOOST_TEST(!fs::exists(dir.path() / "shard-1-step-10.ckpt"));
  for (const char* kept : {"shard-1-step-20.ckpt", "shard-1-step-30.ckpt", "shard-1-step-40.ckpt",
                           "shard-2-step-10.ckpt", "server.ckpt"})
    BOOST_TEST(fs::exists(dir.path() / kept), kept);
}

BOOST_AUTO_TEST_CASE(a_missing_damaged_or_foreign_slice_file_is_refused_naming_file_and_fix) {
  temp_directory dir{"shard-ckpt"};
  const auto d = dir.path().string();
  const auto digest = write_slice_checkpoint(d, slice_state(5), 0);
  const slice_expectation want{1, 2, key_range{4, 10}, 5, digest};
  auto refused = [&](slice_expectation w, const std::string& what) {
    BOOST_CHECK_EXCEPTION(read_slice_checkpoint(d, w), std::runtime_error, [&](const auto& e) {
      BOOST_TEST_MESSAGE(e.what());
      return says(e, what) && says(e, "start shard 1 with --resume=DIR");
    });
  };
  auto other_step = want;
  other_step.version = 6;
  refused(other_step, "no slice file '" + (dir.path() / "shard-1-step-6.ckpt").string() + "'");
  auto other_digest = want;
  other_digest.digest ^= 1;
  refused(other_digest, "a file of another run");
  auto other_range = want;
  other_range.range = key_range{5, 10};
  refused(other_range, "holds the range [4, 10)");
  auto other_k = want;
  other_k.shards = 3;
  refused(other_k, "holds shard 1 of 2, not shard 1 of 3");
  // A file of another step under this step's name.
  fs::copy_file(dir.path() / "shard-1-step-5.ckpt", dir.path() / "shard-1-step-6.ckpt");
  refused(other_step, "holds step 5, the leader's checkpoint step 6");
  // A damaged file.
  {
    std::fstream f{dir.path() / "shard-1-step-5.ckpt",
                   std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(40);
    f.put('\x7f');
  }
  refused(want, "damaged");
  // The leader's server.ckpt is no slice file.
  auto leader = slice_state(5);
  leader.slice.reset();
  write_checkpoint_file(slice_file(d, 1, 5), leader);
  refused(want, "is no follower's slice file");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cut)

BOOST_AUTO_TEST_CASE(the_leaders_checkpoint_is_whole_only_once_every_follower_confirmed) {
  const std::vector<key_range> ranges{{0, 4}, {4, 7}, {7, 10}};
  checkpoint_cut cut{ranges, 10};
  checkpoint own;
  own.version = 20;
  own.model = Eigen::VectorXf::Constant(4, 1.0f);
  own.momentum = Eigen::VectorXf::Constant(4, 0.5f);
  own.server_residual = Eigen::VectorXf::Constant(4, 0.25f);
  own.server_rng = {1, 2, 3, 4};
  auto order = cut.open(own);
  BOOST_TEST(order.version == 20u);
  BOOST_TEST(order.keep == 10u); // the newest complete one stays on every follower
  Eigen::VectorXf x2 = Eigen::VectorXf::Constant(3, 2.0f), m2 = Eigen::VectorXf::Constant(3, 2.5f);
  Eigen::VectorXf x1 = Eigen::VectorXf::Constant(3, 3.0f), m1 = Eigen::VectorXf::Constant(3, 3.5f);
  BOOST_TEST(!cut.saved(slice_saved{2, 20, 0x22, {}}, x2, &m2).has_value());
  BOOST_TEST(cut.open_cuts() == 1u);
  // A second confirmation of shard 2, and one of a step no cut waits for, are errors.
  BOOST_CHECK_THROW(cut.saved(slice_saved{2, 20, 0x22, {}}, x2, &m2), std::runtime_error);
  BOOST_CHECK_THROW(cut.saved(slice_saved{1, 30, 0x11, {}}, x1, &m1), std::runtime_error);
  auto whole = cut.saved(slice_saved{1, 20, 0x11, {}}, x1, &m1);
  BOOST_REQUIRE(whole.has_value());
  Eigen::VectorXf expected_x(10), expected_m(10);
  expected_x << 1, 1, 1, 1, 3, 3, 3, 2, 2, 2;
  expected_m << 0.5, 0.5, 0.5, 0.5, 3.5, 3.5, 3.5, 2.5, 2.5, 2.5;
  BOOST_TEST(whole->model == expected_x);
  BOOST_TEST(whole->momentum == expected_m);
  BOOST_TEST(whole->server_residual == own.server_residual);
  BOOST_REQUIRE(whole->shards.has_value());
  BOOST_TEST(whole->shards->digests == (std::vector<std::uint32_t>{0, 0x11, 0x22}));
  cut.written(20);
  BOOST_TEST(cut.kept() == 20u);
  BOOST_TEST(cut.open(own).keep == 20u);
  // The range-0 part a resumed leader's engine restores.
  auto part = leader_part(*whole, ranges[0]);
  BOOST_TEST(part.model == own.model);
  BOOST_TEST(part.momentum == own.momentum);
  BOOST_TEST(part.server_residual == own.server_residual);
}

BOOST_AUTO_TEST_CASE(a_follower_that_could_not_write_fails_the_cut_naming_it) {
  checkpoint_cut cut{{{0, 4}, {4, 10}}, 0};
  checkpoint own;
  own.version = 5;
  own.model = Eigen::VectorXf::Zero(4);
  cut.open(own);
  Eigen::VectorXf x = Eigen::VectorXf::Zero(6);
  BOOST_CHECK_EXCEPTION(cut.saved(slice_saved{1, 5, 0, "No space left on device"}, x, nullptr),
                        std::runtime_error, [](const auto& e) {
                          return says(e, "shard 1 could not write its checkpoint of step 5: No "
                                         "space left on device");
                        });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(follower_core)

BOOST_AUTO_TEST_CASE(a_follower_saves_on_order_and_a_resumed_one_continues_bit_for_bit) {
  temp_directory dir{"shard-ckpt"};
  const auto d = dir.path().string();
  follower f{{d, {}}};
  f.make_version(1, 0.01f);
  auto fx = f.core.save_ordered(slice_save{1, 0}, t0);
  auto saved = to_lead<slice_saved>(fx);
  BOOST_REQUIRE(saved.size() == 1u);
  BOOST_TEST(saved[0].failure == "");
  BOOST_TEST(saved[0].version == 1u);
  std::uint32_t digest = 0;
  read_checkpoint_file(slice_file(d, 1, 1), &digest);
  BOOST_TEST(saved[0].digest == digest);
  // The leader resumes from step 1: a new follower continues from the file, and both make the
  // same version 2 from the same push.
  auto s = f.setup;
  s.version = 1;
  s.slice = f.core.slice();
  s.resume = true;
  s.resume_digest = digest;
  shard_core fresh{1, 2, "", shard_storage{d, d}};
  BOOST_TEST(effects<stop_shard>(fresh.set_up(s, t0)).empty());
  BOOST_TEST(fresh.version() == 1u);
  BOOST_TEST(fresh.slice() == f.core.slice());
  fresh.member_changed(member_change{0, 1, true}, t0);
  registration r;
  r.peer = 10;
  r.returning = true;
  r.previous_id = 0;
  fresh.registered(r, t0);
  f.make_version(2, -0.02f);
  fresh.pushed(10, slice_push(f.cfg, 0, 1, f.setup.ranges[1].size(), -0.02f), t0);
  round_commit c;
  c.version = 2;
  c.workers = {0};
  c.keys = {1};
  fresh.committed(c, t0);
  BOOST_TEST(fresh.version() == 2u);
  BOOST_TEST(fresh.slice() == f.core.slice());
}

BOOST_AUTO_TEST_CASE(a_follower_without_a_checkpoint_directory_confirms_a_failure_and_stops) {
  follower f{{}};
  auto fx = f.core.save_ordered(slice_save{0, 0}, t0);
  auto saved = to_lead<slice_saved>(fx);
  BOOST_REQUIRE(saved.size() == 1u);
  BOOST_TEST(saved[0].failure.find("start it with --checkpoint=DIR") != std::string::npos);
  auto stopped = effects<stop_shard>(fx);
  BOOST_REQUIRE(stopped.size() == 1u);
  BOOST_TEST(stopped[0].failed);
}

BOOST_AUTO_TEST_CASE(an_order_for_another_step_stops_the_follower) {
  temp_directory dir{"shard-ckpt"};
  follower f{{dir.path().string(), {}}};
  auto stopped = effects<stop_shard>(f.core.save_ordered(slice_save{3, 0}, t0));
  BOOST_REQUIRE(stopped.size() == 1u);
  BOOST_TEST(stopped[0].error.find("an order to save step 3 at step 0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(resume_without_its_file_or_directory_or_against_a_new_run_is_refused) {
  temp_directory dir{"shard-ckpt"};
  const auto d = dir.path().string();
  auto s = setup_of(small_run());
  s.resume = true;
  s.version = 4;
  s.resume_digest = 1;
  {
    shard_core core{1, 2, "", shard_storage{d, {}}};
    auto stopped = effects<stop_shard>(core.set_up(s, t0));
    BOOST_REQUIRE(stopped.size() == 1u);
    BOOST_TEST(stopped[0].error ==
               "shard 1: the leader resumes from its checkpoint of step 4: start shard 1 with "
               "--resume=DIR, the directory its --checkpoint wrote");
  }
  {
    shard_core core{1, 2, "", shard_storage{d, d}};
    auto stopped = effects<stop_shard>(core.set_up(s, t0));
    BOOST_REQUIRE(stopped.size() == 1u);
    BOOST_TEST(stopped[0].error.find("no slice file '" + slice_file(d, 1, 4).string() + "'") !=
               std::string::npos);
  }
  {
    s.resume = false;
    shard_core core{1, 2, "", shard_storage{d, d}};
    auto stopped = effects<stop_shard>(core.set_up(s, t0));
    BOOST_REQUIRE(stopped.size() == 1u);
    BOOST_TEST(stopped[0].error.find("but the leader starts a new run") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
