#pragma once

// Where the threads of dsq run. Best effort: a failure leaves a thread where the OS puts it.

#include <filesystem>

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
/// `slot`-th CPU (modulo their number) of those the calling thread may use; returns that CPU,
/// or -1 when nothing was pinned.
///
/// Why (dsq server and dsq worker processes on one host): a message between two processes
/// wakes a thread in each; on the same CPU that wake-up needs no inter-processor interrupt, and
/// the kernel no longer piles 3 processes on one core of 2 (docs/network.md, "Runtime
/// defaults").
int pin_process_to_cpu_slot(int slot);

/// Takes the lowest CPU slot that no other live process holds in `dir` and keeps it for the
/// life of this process (an flock on `dir`/cpu-slot-K, which the kernel drops when the process
/// ends); -1 when `dir` cannot be used. Every call takes another slot, also within one process.
///
/// Why (dsq worker, --placement=spread): the worker processes of one host then spread over its
/// CPUs round-robin whatever their ids (which are global to the run, not to the host), and a
/// worker that replaces one that ended takes the CPU that was freed. With 4 worker processes
/// on 2 cores, unpinned, the kernel often keeps 3 of them on one core (see
/// pin_thread_to_cpu_slot): spread, a step of the tiny model was 1.1-1.3x faster and one of
/// MNIST 1.1-1.4x (docs/network.md, "Runtime defaults").
int claim_host_cpu_slot(const std::filesystem::path& dir);

/// The directory where the dsq processes of this user on this host keep their CPU slots:
/// $XDG_RUNTIME_DIR/dsq-cpu-slots, else /tmp/dsq-cpu-slots-UID.
std::filesystem::path host_cpu_slot_dir();

} // namespace dsq
