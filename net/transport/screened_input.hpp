#pragma once

// The screen of net/transport/basp_screen.hpp as a connection applies it: what a scribe's consume()
// asks before it hands arrived bytes to its broker. dsq's plain connections (eager_tcp.hpp) and its
// TLS connections (screened_tls.hpp) both use it.

#include "net/transport/basp_screen.hpp"

#include <cstddef>

namespace caf::io {
class abstract_broker;
class basp_broker;
class scribe;
} // namespace caf::io

namespace dsq {

/// The screen as a connection applies it: what a scribe's consume() asks before it hands bytes
/// to its broker. Only BASP's broker is screened (a scribe may serve another broker first).
class screened_input {
public:
  /// False: drop `data`. It is a message the screen refuses (one CAF cannot decode, a header
  /// announcing more than message_size_limit(), a message in another node's name or one only
  /// this process's actors send), or follows one: the connection (its socket `fd`) is then
  /// shut down, so that the broker learns it closed, and the refusal is written to stderr
  /// naming the peer.
  bool pass(caf::io::scribe& connection, int fd, caf::execution_unit* ctx, const void* data,
            std::size_t size);

private:
  bool refused_ = false;
  basp_screen screen_;
  caf::io::abstract_broker* parent_ = nullptr; ///< set once: a cast per message would be dear
  caf::io::basp_broker* basp_ = nullptr;       ///< parent_ if it is BASP's broker
};

} // namespace dsq
