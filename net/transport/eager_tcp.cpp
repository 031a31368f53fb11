#include "net/transport/eager_tcp.hpp"

#include "net/transport/read_ahead_tcp.hpp"
#include "net/transport/screened_scribe.hpp"

#include <caf/io/network/stream.hpp>
#include <caf/make_counted.hpp>

namespace dsq {

namespace {

using caf::io::network::native_socket;
using caf::io::network::operation;
using caf::io::network::rw_state;

/// CAF's stream with the read-ahead policy, and a flush that sends at once.
class eager_stream : public caf::io::network::stream {
public:
  eager_stream(caf::io::network::default_multiplexer& mpx, native_socket fd) : stream(mpx, fd) {}

  void handle_event(operation op) override {
    if (op == operation::read)
      policy_.start_turn();
    handle_event_impl(op, policy_);
  }

  /// Sends what the buffer holds right away when nothing is being written before it; what
  /// the socket does not take, and every error, goes CAF's way (epoll, then send).
  void flush_now(const manager_ptr& mgr) {
    auto& out = wr_buf();
    if (!out.empty() && !state_.writing && !state_.ack_writes && !state_.shutting_down) {
      std::size_t sent = 0;
      if (read_ahead_tcp::write_some(sent, fd(), out.data(), out.size()) == rw_state::success)
        out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(sent));
      if (out.empty()) {
        // Only eager_multiplexer makes these streams.
        static_cast<eager_multiplexer&>(backend()).count_send_at_once();
        return;
      }
    }
    flush(mgr); // the rest waits for epoll, as in CAF's stream
  }

  bool holds_bytes() const { return policy_.holds_bytes(); }

private:
  read_ahead_tcp policy_;
};

/// CAF's scribe_impl with an eager_stream, screened.
class eager_scribe final : public screened_scribe<eager_stream> {
public:
  using screened_scribe::screened_scribe;

  void flush() override {
    if (outgoing_within_limit())
      stream_.flush_now(this);
  }

  void add_to_loop() override {
    stream_.activate(this);
    if (stream_.holds_bytes()) {
      // Read ahead before the broker stopped reading: epoll will not report these bytes, so
      // hand them out from the event loop's next turn.
      caf::intrusive_ptr<eager_scribe> self{this};
      stream_.backend().post([self] {
        if (!self->stream_.read_channel_closed() && self->stream_.holds_bytes())
          self->stream_.handle_event(operation::read);
      });
    }
  }
};

} // namespace

caf::io::scribe_ptr eager_multiplexer::new_scribe(native_socket fd) {
  return caf::make_counted<eager_scribe>(*this, fd);
}

} // namespace dsq
