#pragma once

// CAF 0.17's scribe_impl (a broker's end of one connection) over any of CAF's streams, with its
// input screened before the broker takes it (screened_input.hpp). dsq's plain connections
// (eager_tcp.hpp) and its TLS connections (screened_tls.hpp) are this with their own streams.

#include "net/transport/message_size_limit.hpp"
#include "net/transport/screened_input.hpp"

#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/scribe.hpp>

#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace dsq {

/// A scribe over a `Stream` (a caf::io::network::stream) whose input passes the screen.
template <class Stream>
class screened_scribe : public caf::io::scribe {
public:
  /// The connection of socket `fd`; `xs` go to the stream after the multiplexer and `fd`.
  template <class... Ts>
  screened_scribe(caf::io::network::default_multiplexer& mpx, caf::io::network::native_socket fd,
                  Ts&&... xs)
      : scribe(caf::io::network::conn_hdl_from_socket(fd)),
        stream_(mpx, fd, std::forward<Ts>(xs)...) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
      launched();
    }
  }

  void ack_writes(bool enable) override { stream_.ack_writes(enable); }

  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }

  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override {
    if (outgoing_within_limit())
      stream_.flush(this);
  }

  /// Hands what arrived to the broker, unless it is BASP's broker and the screen refuses it:
  /// then the connection is shut down, and the broker learns that it closed.
  bool consume(caf::execution_unit* ctx, const void* data, std::size_t size) override {
    if (!input_.pass(*this, stream_.fd(), ctx, data, size))
      return true;
    return scribe::consume(ctx, data, size);
  }

  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }

  std::uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }

  void add_to_loop() override { stream_.activate(this); }

  void remove_from_loop() override { stream_.passivate(); }

protected:
  /// Called once, right after the stream started.
  virtual void launched() {}

  /// True while the bytes queued for the peer (those not yet handed to the socket) are within
  /// outgoing_buffer_limit(). A peer that stops reading would otherwise grow this process
  /// without bound (issue 29: 20,000 answers to an attacker that no longer read): beyond it,
  /// the connection is shut down, with one line on stderr, and its queue freed; the next read
  /// finds the end and the broker is told, as for a refused input.
  bool outgoing_within_limit() {
    auto& out = stream_.wr_buf();
    const auto limit = outgoing_buffer_limit();
    if (!dropped_ && out.size() <= limit)
      return true;
    if (!dropped_) {
      dropped_ = true;
      std::fprintf(stderr,
                   "dsq: closed the connection to %s:%u: it left %zu bytes unread, more than "
                   "this process's limit of %llu for a peer (4 x --max-message-bytes)\n",
                   addr().c_str(), static_cast<unsigned>(port()), out.size(),
                   static_cast<unsigned long long>(limit));
      ::shutdown(stream_.fd(), SHUT_RDWR);
    }
    std::vector<char>{}.swap(out); // whatever comes after goes nowhere either
    return false;
  }

  Stream stream_;

private:
  bool launched_ = false;
  bool dropped_ = false; ///< the peer left too much unread: the connection is being closed
  screened_input input_;
};

} // namespace dsq
