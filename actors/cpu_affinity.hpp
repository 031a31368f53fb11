#pragma once

// Where the threads of dsq run. Best effort: a failure leaves a thread where the OS puts it.

namespace dsq {

/// Restricts the calling thread to the `slot`-th CPU (modulo their number) of those it may use;
/// nothing for slot < 0 or a single CPU.
///
/// Why (dsq local): the workers of `dsq local` wake at almost the same moment (one update for all)
/// and the kernel queues a woken thread on a busy CPU when none is idle. Once two CPUs hold 3 and 1
/// workers, that split sticks: a CPU that runs dry does not pull a waiting worker, since the
/// worker ran moments ago and counts as cache-hot. With 4 workers on 2 cores the last worker
/// then starts its gradient ~75 us after the update instead of ~40, and whole runs fall into
/// the slow mode or the fast one (tiny model of bench_runtime, 10 runs of 3000 steps: median
/// 138 us/step unpinned, 106 pinned; 2 workers: 87 and 70). Pinned round-robin, every CPU holds
/// floor(n / cores) or ceil(n / cores) workers in every step. Best effort: a failure leaves the
/// thread where the OS puts it.
void pin_thread_to_cpu_slot(int slot);

/// Restricts every thread of the process (and so every thread it creates later) to the
/// `slot`-th CPU (modulo their number) of those the calling thread may use.
///
/// Why (dsq server and dsq worker processes on one host): a message between two processes
/// wakes a thread in each; on the same CPU that wake-up needs no inter-processor interrupt, and
/// the kernel no longer piles 3 processes on one core of 2 (docs/network.md, "Placing the
/// processes").
void pin_process_to_cpu_slot(int slot);

} // namespace dsq
