#include "net/transport/screened_input.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/scribe.hpp>

#include <sys/socket.h>

#include <cstdio>

namespace dsq {

bool screened_input::pass(caf::io::scribe& connection, int fd, caf::execution_unit* ctx,
                          const void* data, std::size_t size) {
  if (refused_)
    return false; // read ahead behind a refused message
  if (connection.parent() != parent_) {
    parent_ = connection.parent();
    basp_ = dynamic_cast<caf::io::basp_broker*>(parent_);
  }
  if (basp_ == nullptr ||
      screen_.admit(ctx, basp_->proxy_registry_ptr(), static_cast<const char*>(data), size))
    return true;
  refused_ = true;
  std::fprintf(stderr,
               "dsq: closed the connection from %s:%u: it sent a message that CAF cannot decode\n",
               connection.addr().c_str(), static_cast<unsigned>(connection.port()));
  ::shutdown(fd, SHUT_RDWR); // the next read finds the end: the broker is told
  return false;
}

} // namespace dsq
