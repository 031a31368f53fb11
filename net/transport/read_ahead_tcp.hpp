#pragma once

// How a connection of eager_tcp.hpp reads: a policy for CAF 0.17's stream (the ProtocolPolicy
// of caf::io::network::stream_impl, like caf::policy::tcp). CAF's stream asks for exactly as
// many bytes as the message's next part needs (a BASP header, then its payload) and calls
// read_some until a call reads nothing, so a message costs CAF's policy three recv: header,
// payload, and one that finds the socket empty. This policy takes what the socket holds in
// one recv and hands it out as asked; when that recv left the socket empty, the next call of
// the same turn of the event loop that finds the buffer empty reads nothing without asking the
// kernel. epoll is level-triggered, so bytes that arrive in between are reported on the loop's
// next turn (start_turn).

#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/rw_state.hpp>
#include <caf/policy/tcp.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

namespace dsq {

/// caf::policy::tcp with a read-ahead buffer.
class read_ahead_tcp {
public:
  using native_socket = caf::io::network::native_socket;
  using rw_state = caf::io::network::rw_state;

  /// How much one recv takes ahead. A read of at least half of it goes straight to the
  /// caller's buffer (a large payload is not copied twice).
  static constexpr std::size_t capacity = 64 * 1024;

  /// Reads up to `len` bytes into `out`: from the buffer when it holds any, else from the
  /// socket. As caf::policy::tcp: `failure` for an error or a closed connection, `success`
  /// with `result` 0 when there is nothing to read.
  rw_state read_some(std::size_t& result, native_socket fd, void* out, std::size_t len) {
    if (begin_ == end_) {
      if (drained_) {
        drained_ = false;
        result = 0;
        return rw_state::success;
      }
      if (len >= capacity / 2) {
        auto state = caf::policy::tcp::read_some(result, fd, out, len);
        drained_ = state == rw_state::success && result > 0 && result < len;
        return state;
      }
      if (buf_.empty())
        buf_.resize(capacity); // only for connections that read
      std::size_t got = 0;
      auto state = caf::policy::tcp::read_some(got, fd, buf_.data(), buf_.size());
      if (state != rw_state::success || got == 0) {
        result = 0;
        return state;
      }
      begin_ = 0;
      end_ = got;
      drained_ = got < buf_.size();
    }
    result = std::min(len, end_ - begin_);
    std::memcpy(out, buf_.data() + begin_, result);
    begin_ += result;
    return rw_state::success;
  }

  /// Writes as caf::policy::tcp does.
  static rw_state write_some(std::size_t& result, native_socket fd, const void* buf,
                             std::size_t len) {
    return caf::policy::tcp::write_some(result, fd, buf, len);
  }

  /// Called when epoll reports the socket readable: what the last turn found out about the
  /// socket no longer holds.
  void start_turn() { drained_ = false; }

  /// True while bytes wait in the buffer: CAF's read loop then goes on (epoll cannot report
  /// bytes that already left the socket).
  bool must_read_more(native_socket, std::size_t) const { return holds_bytes(); }

  /// True when bytes read from the socket wait to be handed out.
  bool holds_bytes() const { return begin_ != end_; }

private:
  std::vector<char> buf_;
  std::size_t begin_ = 0; ///< next byte to hand out
  std::size_t end_ = 0;   ///< one past the last byte read
  bool drained_ = false;  ///< this turn's last recv left the socket empty
};

} // namespace dsq
