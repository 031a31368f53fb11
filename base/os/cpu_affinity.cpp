#include "base/os/cpu_affinity.hpp"

#include <cstdlib>
#include <string>
#include <system_error>

#if defined(__linux__)
#include "base/os/process_threads.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace dsq {

namespace {

#if defined(__linux__)
/// The `slot`-th CPU (modulo their number) that the calling thread may use; -1 when there is
/// nothing to pin (slot < 0, one CPU, or the OS would not say).
int cpu_of_slot(int slot) {
  cpu_set_t allowed;
  if (slot < 0 || sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return -1;
  const int count = CPU_COUNT(&allowed);
  if (count <= 1)
    return -1;
  int wanted = slot % count;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed) && wanted-- == 0)
      return cpu;
  return -1;
}

/// The set holding only `cpu`.
cpu_set_t only(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return one;
}
#endif

} // namespace

void pin_thread_to_cpu_slot(int slot) {
#if defined(__linux__)
  if (const int cpu = cpu_of_slot(slot); cpu >= 0) {
    const auto one = only(cpu);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
  }
#else
  (void)slot;
#endif
}

int pin_process_to_cpu_slot(int slot) {
#if defined(__linux__)
  const int cpu = cpu_of_slot(slot);
  if (cpu < 0)
    return -1;
  const auto one = only(cpu);
  if (!for_each_thread_of_process([&](pid_t tid) { sched_setaffinity(tid, sizeof one, &one); }))
    return -1;
  return cpu;
#else
  (void)slot;
  return -1;
#endif
}

int claim_host_cpu_slot(const std::filesystem::path& dir) {
#if defined(__linux__)
  // Only a directory of this user's own, not writable by others: another user could otherwise
  // hold every slot, or plant links where the lock files go.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return -1;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return -1;
  // More slots than any host has CPUs for dsq processes; the bound keeps a broken directory
  // from turning this into a long loop.
  constexpr int max_slots = 4096;
  for (int slot = 0; slot < max_slots; ++slot) {
    const auto file = dir / ("cpu-slot-" + std::to_string(slot));
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      return -1;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
      return slot; // the descriptor stays open: the slot is held until the process ends
    const int why = errno;
    ::close(fd);
    if (why != EWOULDBLOCK)
      return -1;
  }
  return -1;
#else
  (void)dir;
  return -1;
#endif
}

std::filesystem::path host_cpu_slot_dir() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime)
    return std::filesystem::path{runtime} / "dsq-cpu-slots";
  std::error_code ec;
  auto tmp = std::filesystem::temp_directory_path(ec);
  if (ec)
    tmp = "/tmp";
#if defined(__linux__)
  return tmp / ("dsq-cpu-slots-" + std::to_string(::getuid()));
#else
  return tmp / "dsq-cpu-slots";
#endif
}

} // namespace dsq
