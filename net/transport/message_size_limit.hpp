#pragma once

// The largest message this process takes from a peer. CAF 0.17's broker sizes its read buffer
// to the payload length a BASP header announces, before a byte of the payload arrived: three
// 32-byte headers announcing 1, 1 and 2 GiB grew a server to 4.2 GB (issue 29). dsq's
// connections refuse a header that announces more than this limit (net/basp_screen.hpp) and
// close its connection. `dsq server` derives the limit from its model (run_message_size_limit)
// unless --max-message-bytes sets it; a `dsq worker`, which learns the model only from its
// server's welcome, takes at most limit_before_welcome until then, and the limit of the model
// the welcome states after it (or --max-message-bytes throughout).

#include <cstdint>

namespace dsq {

/// The largest message a run on a model of `parameters` parameters can legitimately send,
/// in bytes: the welcome (model, momentum, a returning worker's residual: 12 bytes per
/// parameter), or a push with the worker's state (its residual, and a payload of at most 8
/// bytes per parameter, a value and an index for every coordinate: the most any operator of
/// compression/ sends), plus 64 KiB for the rest (the run's configuration, names, headers).
std::uint64_t largest_run_message(std::uint64_t parameters) noexcept;

/// The limit of a run: `option` (--max-message-bytes) when not 0, else twice
/// largest_run_message(parameters) plus 1 MiB.
std::uint64_t run_message_size_limit(std::uint64_t parameters, std::uint64_t option) noexcept;

/// The limit of a `dsq worker` until its welcome states the model (without
/// --max-message-bytes): 64 MiB, the welcome of a model of 5.5 million parameters. A worker of a
/// larger model needs --max-message-bytes (`dsq server` says so at its start).
inline constexpr std::uint64_t limit_before_welcome = std::uint64_t{64} << 20;

/// Sets the limit for every connection of this process (0: none).
void set_message_size_limit(std::uint64_t bytes) noexcept;

/// The limit set, or 0 when none is.
std::uint64_t message_size_limit() noexcept;

/// The most bytes a connection of this process queues for a peer that does not read them
/// (screened_scribe.hpp drops the peer beyond it): four of the largest messages
/// (message_size_limit), at least 8 MiB; 256 MiB while no message limit is set. A peer that
/// reads gets far less queued: a sync run sends one update per step and waits for pushes.
std::uint64_t outgoing_buffer_limit() noexcept;

} // namespace dsq
