#include "base/process_clock.hpp"

namespace dsq {

namespace {

// Initialised with the program's static objects, before main(): the start-up this measures
// includes everything after the loader (CAF's start, option parsing, the data).
const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

} // namespace

std::chrono::steady_clock::time_point process_start() noexcept {
  return started;
}

double seconds_since_process_start() noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

} // namespace dsq
