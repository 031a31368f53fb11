#pragma once

#include <chrono>

namespace dsq {

/// When this process started, as near as a program can tell: the steady clock read while the
/// program's static objects were initialised, before main().
std::chrono::steady_clock::time_point process_start() noexcept;

/// Seconds since process_start().
double seconds_since_process_start() noexcept;

} // namespace dsq
