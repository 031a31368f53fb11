#pragma once

#include "base/simd/simd_level.hpp"

namespace dsq::bench {

/// Floating-point operations per second that one core reaches at `level` on a loop of
/// independent multiply-adds on registers (v2: as many independent multiplies as adds, SSE;
/// v3: 256-bit FMAs; v4: 512-bit FMAs; an FMA counts as 2): the peak the models' rates are
/// set against. Best of `rounds` rounds of about 0.1 s of the thread's CPU time.
double measured_peak_flops(simd_level level, int rounds = 5);

/// Seconds of CPU time this thread has used (not wall time: the machine may be shared).
double thread_cpu_seconds();

} // namespace dsq::bench
