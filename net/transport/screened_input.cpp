#include "net/transport/screened_input.hpp"

#include "net/transport/message_size_limit.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/scribe.hpp>

#include <sys/socket.h>

#include <cstdio>
#include <limits>

namespace dsq {

bool screened_input::pass(caf::io::scribe& connection, int fd, caf::execution_unit* ctx,
                          const void* data, std::size_t size) {
  if (refused_)
    return false; // read ahead behind a refused message
  if (connection.parent() != parent_) {
    parent_ = connection.parent();
    basp_ = dynamic_cast<caf::io::basp_broker*>(parent_);
  }
  if (basp_ == nullptr)
    return true;
  const auto limit = message_size_limit();
  screen_.limit_payload(limit != 0 ? limit : std::numeric_limits<std::uint32_t>::max());
  const auto* bytes = static_cast<const char*>(data);
  bool ok = false;
  if (screen_.expecting_payload()) {
    // The broker learned the peer's node from its handshake, on this connection, before it
    // asked for this payload: the route of this connection names it.
    const basp_endpoints ends{basp_->this_node(),
                              basp_->instance.tbl().lookup_direct(connection.hdl())};
    ok = screen_.admit(ctx, basp_->proxy_registry_ptr(), bytes, size, &ends);
  } else {
    ok = screen_.admit(ctx, basp_->proxy_registry_ptr(), bytes, size);
  }
  if (ok)
    return true;
  refused_ = true;
  if (screen_.refusal() == screen_refusal::oversized)
    std::fprintf(stderr,
                 "dsq: closed the connection from %s:%u: it announced a message of %u bytes, "
                 "more than this run's limit of %llu (--max-message-bytes)\n",
                 connection.addr().c_str(), static_cast<unsigned>(connection.port()),
                 static_cast<unsigned>(screen_.announced()),
                 static_cast<unsigned long long>(screen_.max_payload()));
  else
    std::fprintf(stderr, "dsq: closed the connection from %s:%u: %s\n", connection.addr().c_str(),
                 static_cast<unsigned>(connection.port()), describe(screen_.refusal()));
  ::shutdown(fd, SHUT_RDWR); // the next read finds the end: the broker is told
  return false;
}

} // namespace dsq
