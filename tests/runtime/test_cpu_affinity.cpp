// Pinning a process (dsq server/worker --pin-cpus, dsq worker --placement=spread): every thread,
// also those already running and those created later, ends up on the one CPU of its slot; and
// the CPU slots of a host: one per process that holds it, free again when that process ends.
#define BOOST_TEST_MODULE cpu_affinity
#include <boost/test/unit_test.hpp>

#include "base/os/cpu_affinity.hpp"
#include "base/os/process_threads.hpp"
#include "parked_threads.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

namespace {

/// The CPUs that thread `tid` (0: the calling one) may run on; none if the OS would not say
/// (which fails every comparison with an expected set). No assertion: also called on threads
/// other than the test's.
std::set<int> cpus_of(pid_t tid) {
  cpu_set_t set;
  std::set<int> cpus;
  if (sched_getaffinity(tid, sizeof set, &set) != 0)
    return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set))
      cpus.insert(cpu);
  return cpus;
}

/// The CPUs each thread of this process may run on.
std::vector<std::set<int>> cpus_of_every_thread() {
  std::vector<std::set<int>> result;
  BOOST_REQUIRE(
      dsq::for_each_thread_of_process([&](pid_t tid) { result.push_back(cpus_of(tid)); }));
  return result;
}

/// A fresh directory for CPU slots, removed at the end.
struct slot_directory {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("dsq-cpu-slot-test-" + std::to_string(::getpid()));
  slot_directory() { std::filesystem::remove_all(path); }
  ~slot_directory() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(each_claim_takes_the_lowest_free_slot_until_its_process_ends) {
  slot_directory dir;
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 0);
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 1);
  // Another process takes the next slot and holds it until it ends.
  int to_child[2], from_child[2];
  BOOST_REQUIRE(::pipe(to_child) == 0 && ::pipe(from_child) == 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    const int slot = dsq::claim_host_cpu_slot(dir.path);
    (void)!::write(from_child[1], &slot, sizeof slot);
    char byte;
    (void)!::read(to_child[0], &byte, 1); // until the parent closes its end
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  int child_slot = -2;
  BOOST_REQUIRE(::read(from_child[0], &child_slot, sizeof child_slot) ==
                static_cast<ssize_t>(sizeof child_slot));
  BOOST_TEST(child_slot == 2);
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 3); // 2 is the child's
  ::close(to_child[1]);
  int status = 0;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  ::close(from_child[0]);
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 2); // freed by the child's end
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 4);
}

BOOST_AUTO_TEST_CASE(a_slot_directory_that_others_may_write_or_a_linked_slot_is_not_used) {
  slot_directory dir;
  std::filesystem::create_directory(dir.path);
  ::chmod(dir.path.c_str(), 0777);
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == -1);
  ::chmod(dir.path.c_str(), 0700);
  std::filesystem::create_symlink(dir.path / "elsewhere", dir.path / "cpu-slot-0");
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == -1);
  BOOST_TEST(!std::filesystem::exists(dir.path / "elsewhere"));
  std::filesystem::remove(dir.path / "cpu-slot-0");
  BOOST_TEST(dsq::claim_host_cpu_slot(dir.path) == 0);
}

BOOST_AUTO_TEST_CASE(the_slot_directory_is_one_per_user) {
  const auto dir = dsq::host_cpu_slot_dir().filename().string();
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && *runtime)
    BOOST_TEST(dir == "dsq-cpu-slots");
  else
    BOOST_TEST(dir == "dsq-cpu-slots-" + std::to_string(::getuid()));
}

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
  const parked_threads parked{3}; // threads that exist before the pinning
  dsq::pin_process_to_cpu_slot(1);
  const int expected = cpus[1 % cpus.size()];
  // And one created afterwards inherits it.
  std::set<int> later;
  std::thread{[&] { later = cpus_of(0); }}.join();
  const auto threads = cpus_of_every_thread();
  BOOST_TEST(threads.size() >= 4u);
  for (const auto& on : threads)
    BOOST_TEST((on == std::set<int>{expected}));
  BOOST_TEST((later == std::set<int>{expected}));
}
