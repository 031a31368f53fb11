#pragma once

// How the kernel schedules the threads of a dsq worker process.

namespace dsq {

/// Puts every thread of the process (and so every thread it creates later) under the kernel's
/// SCHED_BATCH policy; false if the OS refused for any thread. Unprivileged, and no change of
/// priority: a batch thread gets the same share of a CPU, but waking up it does not preempt the
/// thread that is running, it waits for that one's time slice to end.
///
/// Why (dsq worker, --scheduling=batch): a sync step ends with the server sending the update to
/// every worker, one socket after the other. A worker woken on the server's CPU used to preempt
/// the server in the middle of that, so the workers after it got the update only once that
/// worker had computed and pushed. As batch processes the workers wait for the server to finish
/// its sends, and the server (a normal process) still preempts a computing worker as soon as a
/// push arrives. In cross_process_bench against the same build without it: 1.02-1.37x faster
/// for 1-8 worker processes, 13 % less CPU per step with 4, MNIST the same (docs/network.md).
bool schedule_process_as_batch();

} // namespace dsq
