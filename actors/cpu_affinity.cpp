#include "actors/cpu_affinity.hpp"

#if defined(__linux__)
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#endif

namespace dsq {

namespace {

#if defined(__linux__)
/// The set holding only the `slot`-th CPU (modulo their number) that the calling thread may use;
/// false when there is nothing to pin (slot < 0, one CPU, or the OS would not say).
bool single_cpu_of_slot(int slot, cpu_set_t& one) {
  cpu_set_t allowed;
  if (slot < 0 || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return false;
  const int count = CPU_COUNT(&allowed);
  if (count <= 1)
    return false;
  int wanted = slot % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed) && wanted-- == 0) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      return true;
    }
  return false;
}
#endif

} // namespace

void pin_thread_to_cpu_slot(int slot) {
#if defined(__linux__)
  cpu_set_t one;
  if (single_cpu_of_slot(slot, one))
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
#else
  (void)slot;
#endif
}

void pin_process_to_cpu_slot(int slot) {
#if defined(__linux__)
  cpu_set_t one;
  if (!single_cpu_of_slot(slot, one))
    return;
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr)
    return;
  while (const dirent* entry = readdir(tasks)) {
    const pid_t tid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (tid > 0)
      sched_setaffinity(tid, sizeof one, &one);
  }
  closedir(tasks);
#else
  (void)slot;
#endif
}

} // namespace dsq
