#include "base/process_clock.hpp"

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace dsq {

namespace {

// Seconds from the kernel's start of this process (its fork, field 22 of /proc/self/stat, in
// clock ticks since boot) to now on the boot clock, which counts what the program's own clock
// cannot: the exec and the dynamic loader (CAF's and the other shared libraries' relocations:
// tens of milliseconds). Negative when not known.
double seconds_since_fork() {
  std::ifstream stat{"/proc/self/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return -1;
  const auto name_end = line.rfind(')'); // the command name may hold spaces and parentheses
  if (name_end == std::string::npos)
    return -1;
  std::istringstream fields{line.substr(name_end + 1)};
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) { // fields 3 to 21
  }
  unsigned long long start_ticks = 0;
  if (!(fields >> start_ticks))
    return -1;
  timespec now{};
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0 || ::clock_gettime(CLOCK_BOOTTIME, &now) != 0)
    return -1;
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec) -
         static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
}

// Initialised with the program's static objects, before main(), and moved back to the
// process's fork when the kernel tells it (to 10 ms, its clock tick): the start-up this
// measures includes the loader, CAF's start, option parsing and the data.
std::chrono::steady_clock::time_point start_of_process() {
  const auto now = std::chrono::steady_clock::now();
  const double before = seconds_since_fork();
  if (!(before >= 0 && before < 60)) // not known, or not plausible for a static initialiser
    return now;
  return now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(before));
}

const std::chrono::steady_clock::time_point started = start_of_process();

} // namespace

std::chrono::steady_clock::time_point process_start() noexcept {
  return started;
}

double seconds_since_process_start() noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

} // namespace dsq
