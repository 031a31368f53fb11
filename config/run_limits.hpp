#pragma once

// The largest values dsq accepts for the options of a run. Beyond them a value is a typo or an
// overflow waiting to happen (steps that wrap to 0, a step size that is infinite as a float, a
// deadline past the clock's range), so validate() refuses it naming the option and the limit.

#include <cstdint>

namespace dsq {

/// --steps, and the steps --epochs works out to.
inline constexpr std::uint64_t max_steps = 1'000'000'000'000; // 10^12
/// --epochs.
inline constexpr double max_epochs = 1e6;
/// --workers, --min-workers, --max-workers.
inline constexpr std::uint64_t max_worker_count = 65536;
/// The seats of a server without --max-workers (unless --workers asks for more): every seat costs
/// the server a residual's worth of state, a share of every broadcast and a slice of the data,
/// and without a cap 500 fake members were all admitted (a 10 s run took 217 s, 4.47 GB of
/// traffic). 256 is far beyond any run of one server this project measures.
inline constexpr std::uint64_t default_worker_cap = 256;
/// The seats (--max-workers) of a sharded run with --aggregate=krum: each follower sends the
/// leader n(n − 1)/2 partial distances (doubles) per round of n pushes, 1 MiB at 512.
inline constexpr std::uint64_t max_sharded_krum_seats = 512;
/// --batch (per worker).
inline constexpr std::uint64_t max_batch = std::uint64_t{1} << 24;
/// --connect-timeout, in seconds (one day).
inline constexpr std::uint64_t max_connect_timeout_s = 86400;
/// Size of a --config file.
inline constexpr std::uint64_t max_config_file_bytes = 1 << 20; // 1 MiB

} // namespace dsq
