#pragma once

// The threads of this process, for settings that the kernel keeps per thread (CPU affinity,
// scheduling policy): a setting for the whole process is one call per thread, and the threads
// created afterwards inherit it from their creator.

#include <sys/types.h>

#include <dirent.h>

#include <cstdlib>

namespace dsq {

/// Calls `f(tid)` for every thread of this process; false if the OS would not list them.
template <class F>
bool for_each_thread_of_process(F f) {
  DIR* tasks = opendir("/proc/self/task");
  if (tasks == nullptr)
    return false;
  while (const dirent* entry = readdir(tasks)) {
    const pid_t tid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (tid > 0)
      f(tid);
  }
  closedir(tasks);
  return true;
}

} // namespace dsq
