// Pinning a process (dsq server/worker --pin-cpus): every thread, also those already running and
// those created later, ends up on the one CPU of its slot.
#define BOOST_TEST_MODULE cpu_affinity
#include <boost/test/unit_test.hpp>

#include "actors/cpu_affinity.hpp"

#include <dirent.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

/// The CPUs each thread of this process may run on.
std::vector<std::set<int>> cpus_of_every_thread() {
  std::vector<std::set<int>> result;
  DIR* tasks = opendir("/proc/self/task");
  BOOST_REQUIRE(tasks != nullptr);
  while (const dirent* entry = readdir(tasks)) {
    const int tid = std::atoi(entry->d_name);
    if (tid <= 0)
      continue;
    cpu_set_t set;
    BOOST_REQUIRE(sched_getaffinity(tid, sizeof set, &set) == 0);
    std::set<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set))
        cpus.insert(cpu);
    result.push_back(cpus);
  }
  closedir(tasks);
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_thread_of_the_process_runs_on_the_cpu_of_its_slot) {
  cpu_set_t allowed;
  BOOST_REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  if (CPU_COUNT(&allowed) < 2) {
    BOOST_TEST_MESSAGE("one CPU allowed: nothing to pin");
    return;
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed))
      cpus.push_back(cpu);
  // Threads that exist before the pinning, parked until the test ends.
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::vector<std::thread> parked;
  for (int i = 0; i < 3; ++i)
    parked.emplace_back([&] {
      std::unique_lock lock{m};
      cv.wait(lock, [&] { return done; });
    });
  dsq::pin_process_to_cpu_slot(1);
  const int expected = cpus[1 % cpus.size()];
  // And one created afterwards inherits it.
  std::set<int> later;
  std::thread{[&] {
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set))
        later.insert(cpu);
  }}.join();
  const auto threads = cpus_of_every_thread();
  {
    std::lock_guard lock{m};
    done = true;
  }
  cv.notify_all();
  for (auto& t : parked)
    t.join();
  BOOST_TEST(threads.size() >= 4u);
  for (const auto& on : threads)
    BOOST_TEST((on == std::set<int>{expected}));
  BOOST_TEST((later == std::set<int>{expected}));
}
