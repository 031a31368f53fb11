#pragma once

// CAF 0.17's middleman with cheaper TCP connections. Its default connection (scribe_impl) sends
// nothing from flush(): it asks epoll to report the socket writable, writes on the next turn
// of the event loop and then tells epoll to stop (two epoll_ctl, an epoll_wait and the send).
// It reads a BASP message as a header and then a payload, one recv each, and then one more
// recv that finds the socket empty. With messages of a few dozen bytes those system calls are
// most of a message's cost. The connections here send at once when nothing is queued before
// them, and read what the socket holds in one recv, handing it out as CAF asks for it. The
// wire format, BASP and the event loop stay CAF's; TLS connections (screened_tls.hpp) are not
// affected.

#include <caf/io/network/default_multiplexer.hpp>

#include <atomic>
#include <cstdint>

namespace dsq {

/// CAF's default multiplexer whose TCP connections send at once and read ahead. Load it with
/// `cfg.load<caf::io::middleman, dsq::eager_multiplexer>()`.
class eager_multiplexer : public caf::io::network::default_multiplexer {
public:
  using default_multiplexer::default_multiplexer;

  /// A connection that sends at once and reads ahead, for a socket CAF accepted or connected.
  caf::io::scribe_ptr new_scribe(caf::io::network::native_socket fd) override;

  /// How many flushes went out whole without waiting for epoll, over all connections.
  std::uint64_t sends_at_once() const { return sends_at_once_.load(std::memory_order_relaxed); }

  /// Counts one such flush; called from the event loop.
  void count_send_at_once() { sends_at_once_.fetch_add(1, std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> sends_at_once_{0};
};

} // namespace dsq
