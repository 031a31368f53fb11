#pragma once

#include <chrono>

namespace dsq {

/// When this process started: its fork as the kernel records it (/proc/self/stat, to 10 ms),
/// so that the exec and the dynamic loader count; where that is not known, the steady clock
/// read while the program's static objects were initialised, before main().
std::chrono::steady_clock::time_point process_start() noexcept;

/// Seconds since process_start().
double seconds_since_process_start() noexcept;

} // namespace dsq
