#include "net/transport/message_size_limit.hpp"

#include <atomic>

namespace dsq {

namespace {

/// Read by every connection at every header, written once before the server publishes.
std::atomic<std::uint64_t> limit{0};

} // namespace

std::uint64_t largest_run_message(std::uint64_t parameters) noexcept {
  const std::uint64_t welcome = 12 * parameters;
  const std::uint64_t push_with_state = 8 * parameters + 4 * parameters;
  return (welcome > push_with_state ? welcome : push_with_state) + 64 * 1024;
}

std::uint64_t run_message_size_limit(std::uint64_t parameters, std::uint64_t option) noexcept {
  return option != 0 ? option : 2 * largest_run_message(parameters) + 1024 * 1024;
}

void set_message_size_limit(std::uint64_t bytes) noexcept {
  limit.store(bytes, std::memory_order_relaxed);
}

std::uint64_t message_size_limit() noexcept {
  return limit.load(std::memory_order_relaxed);
}

std::uint64_t outgoing_buffer_limit() noexcept {
  constexpr std::uint64_t floor = std::uint64_t{8} << 20;
  const auto largest = message_size_limit();
  if (largest == 0)
    return std::uint64_t{256} << 20;
  return 4 * largest > floor ? 4 * largest : floor;
}

} // namespace dsq
