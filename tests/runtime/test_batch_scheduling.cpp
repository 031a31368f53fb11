// dsq worker --scheduling=batch: every thread of the process, also those already running and
// those created later, runs under SCHED_BATCH.
#define BOOST_TEST_MODULE batch_scheduling
#include <boost/test/unit_test.hpp>

#include "base/os/batch_scheduling.hpp"
#include "base/os/process_threads.hpp"
#include "parked_threads.hpp"

#include <sched.h>

#include <thread>
#include <vector>

BOOST_AUTO_TEST_CASE(every_thread_of_the_process_runs_as_batch) {
  BOOST_REQUIRE(sched_getscheduler(0) == SCHED_OTHER);
  const parked_threads parked{3}; // threads that exist before
  BOOST_TEST(dsq::schedule_process_as_batch());
  int later = -1; // and one created afterwards inherits the policy
  std::thread{[&] { later = sched_getscheduler(0); }}.join();
  std::vector<int> policies;
  BOOST_TEST(dsq::for_each_thread_of_process(
      [&](pid_t tid) { policies.push_back(sched_getscheduler(tid)); }));
  BOOST_TEST(policies.size() >= 4u);
  for (int policy : policies)
    BOOST_TEST(policy == SCHED_BATCH);
  BOOST_TEST(later == SCHED_BATCH);
}
