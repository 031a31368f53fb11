// `dsq local` (run_local: the server and workers as actors of one process) with a program's own
// model and data (include/dsq/registry.hpp): a run that trains, and a run whose model returns
// NaN, which must end with the worker's error rather than succeed or hang.
#define BOOST_TEST_MODULE user_run
#include <boost/test/unit_test.hpp>

#include "actors/local_run.hpp"
#include "tests/support/actor_system_fixture.hpp"
#include "tests/support/user_plugins.hpp"
#include "training/training_setup.hpp"

#include <cmath>
#include <string>

using namespace dsq;

namespace {

struct registered {
  registered() { user::register_plugins(); }
};

run_config user_run(const std::string& model) {
  run_config cfg;
  cfg.model = model;
  cfg.dataset = "blobs:n=400,d=6,classes=3";
  cfg.workers = 2;
  cfg.steps = 80;
  cfg.batch = 16;
  cfg.lr = 0.1;
  cfg.eval_every = 40;
  cfg.seed = 4;
  return cfg;
}

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(registered);

BOOST_FIXTURE_TEST_CASE(dsq_local_trains_the_users_model_on_the_users_data,
                        testing::system_fixture) {
  const auto cfg = user_run("lsq:l2=0.001");
  auto outcome = run_local(*sys, cfg, load_training(cfg), false);
  BOOST_REQUIRE_MESSAGE(outcome.ok, outcome.error);
  BOOST_TEST(outcome.summary.dataset == "blobs (generated)");
  BOOST_TEST(outcome.summary.model == "lsq:l2=0.001");
  BOOST_REQUIRE(outcome.rows.size() >= 2u);
  const auto& first = outcome.rows.front();
  BOOST_TEST_MESSAGE("train loss " << first.train_loss << " -> " << outcome.rows.back().train_loss
                                   << ", test accuracy " << outcome.summary.test_accuracy);
  BOOST_TEST(outcome.summary.test_accuracy > 0.8);
  // No training set in memory: no closing training loss.
  BOOST_TEST(std::isnan(outcome.summary.final_train_loss));
}

BOOST_FIXTURE_TEST_CASE(a_model_returning_nan_ends_the_local_run_with_the_workers_error,
                        testing::system_fixture) {
  const auto cfg = user_run("lsq_nan");
  auto outcome = run_local(*sys, cfg, load_training(cfg), false);
  BOOST_TEST_MESSAGE(outcome.error);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(!outcome.summary.diverged);
  BOOST_TEST(outcome.error.find("model 'lsq_nan'") != std::string::npos);
  BOOST_TEST(outcome.error.find("at step 0") != std::string::npos);
  BOOST_TEST(outcome.error.find("fix the model") != std::string::npos);
}
