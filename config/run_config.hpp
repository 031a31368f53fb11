#pragma once

// run_config, config_error, validate and default_steps moved to the public header.
#include <dsq/run_config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsq {

/// Versions the run makes: --steps, or --epochs over `train_size` samples. A version is one
/// synchronous step of --workers pushes, or one asynchronous push: --epochs means the same
/// number of training samples in both modes.
std::uint64_t total_steps(const run_config& cfg, std::size_t train_size);

/// What a worker may know of the run: `cfg` without the server's node-local options (paths of
/// metrics, summary, checkpoint and resume, ports and addresses, TLS files, worker caps, the
/// push-norm bound). The welcome carries this, never the server's own configuration.
run_config shared_training_part(const run_config& cfg);

/// The seats a server gives: --max-workers, or, when 0, the larger of default_worker_cap,
/// --workers and --min-workers (a run asked for more workers than the default still gets them).
std::uint64_t worker_cap(const run_config& cfg);

/// τ of async mode: --staleness, or 4 when not given.
std::uint64_t staleness_bound(const run_config& cfg);

/// The most shards --servers may ask for.
inline constexpr std::uint64_t max_servers = 64;

/// The checks of --servers, --shard-index, --leader and --advertise (part of validate): K in
/// 1..max_servers, a follower's index in 1..K−1 with its leader, and what a sharded run does
/// not do yet (checkpoints, --verify-replicas; Krum beyond max_sharded_krum_seats seats), each
/// refused naming the fix.
void check_shards(const run_config& cfg);

/// How many times as long worker `id` takes per gradient (--slow-worker); 1 if not listed.
double slow_factor(const run_config& cfg, std::uint32_t id);

} // namespace dsq
