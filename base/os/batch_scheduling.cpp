#include "base/os/batch_scheduling.hpp"

#if defined(__linux__)
#include "base/os/process_threads.hpp"

#include <sched.h>
#endif

namespace dsq {

bool schedule_process_as_batch() {
#if defined(__linux__)
  bool all = true;
  const sched_param none{}; // SCHED_BATCH has no static priority: 0
  const bool listed = for_each_thread_of_process([&](pid_t tid) {
    if (sched_setscheduler(tid, SCHED_BATCH, &none) != 0)
      all = false;
  });
  return listed && all;
#else
  return false;
#endif
}

} // namespace dsq
