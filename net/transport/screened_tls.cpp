#include "net/transport/screened_tls.hpp"

#include "net/transport/screened_scribe.hpp"

#include <caf/atom.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/make_counted.hpp>
#include <caf/openssl/session.hpp>
#include <caf/send.hpp>

#include <openssl/err.h>

#include <mutex>
#include <string>

namespace dsq {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// Runs `f`, a call into OpenSSL for one connection, with the thread's OpenSSL error queue
/// empty before and after. Every connection of the process runs in the middleman's one
/// thread, and OpenSSL keeps its errors per thread: CAF's session asks SSL_get_error after an
/// SSL_read that found no data, and SSL_get_error answers SSL_ERROR_SSL whenever the queue
/// holds anything. One stranger's failed handshake (an HTTP request, random bytes, a
/// ClientHello cut short) left its errors there, and the next read of every authenticated
/// connection failed on them: each worker lost its server (issue 29). OpenSSL's manual asks
/// for an empty queue before every TLS I/O call.
template <class F>
auto with_clean_errors(F&& f) {
  ERR_clear_error();
  auto result = f();
  ERR_clear_error(); // a failure's errors stay with its own call
  return result;
}

/// Reads and writes of one TLS connection, through its OpenSSL session.
class tls_policy {
public:
  explicit tls_policy(caf::openssl::session_ptr session) : session_(std::move(session)) {}

  rw_state read_some(std::size_t& result, native_socket fd, void* buf, std::size_t len) {
    return with_clean_errors([&] { return session_->read_some(result, fd, buf, len); });
  }

  rw_state write_some(std::size_t& result, native_socket fd, const void* buf, std::size_t len) {
    return with_clean_errors([&] { return session_->write_some(result, fd, buf, len); });
  }

  /// A TLS record is decrypted whole: bytes of it may wait in the session, not in the socket.
  bool must_read_more(native_socket fd, std::size_t threshold) {
    return session_->must_read_more(fd, threshold);
  }

private:
  caf::openssl::session_ptr session_;
};

/// A TLS connection as the OpenSSL module makes it, screened.
class tls_scribe final : public screened_scribe<caf::io::network::stream_impl<tls_policy>> {
public:
  using screened_scribe::screened_scribe;

private:
  void launched() override {
    // Until the handshake is done, SSL_connect or SSL_accept must run again when the socket
    // is writable: ask epoll for that even with nothing to write.
    stream_.force_empty_write(this);
  }
};

/// Accepts plain TCP and hands each connection to a tls_scribe with a server-side session.
class tls_doorman final : public caf::io::network::doorman_impl {
public:
  using doorman_impl::doorman_impl;

  bool new_connection() override {
    if (detached())
      return false; // the broker let go of this acceptor while its socket was still polled
    auto& mpx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    caf::io::network::nonblocking(fd, true);
    // The session starts the handshake (SSL_accept): its errors must not outlive it either.
    auto session =
        with_clean_errors([&] { return caf::openssl::make_session(parent()->system(), fd, true); });
    if (!session) {
      caf::io::network::close_socket(fd);
      return false;
    }
    auto connection = caf::make_counted<tls_scribe>(mpx, fd, std::move(session));
    auto hdl = connection->hdl();
    parent()->add_scribe(std::move(connection));
    return doorman::new_connection(&mpx, hdl);
  }
};

/// CAF's middleman actor (publish, connect, the handshake with BASP) over tls_scribes.
class tls_middleman_actor final : public caf::io::middleman_actor_impl {
public:
  using middleman_actor_impl::middleman_actor_impl;

  const char* name() const override { return "dsq.screened_tls_middleman"; }

protected:
  caf::expected<caf::io::scribe_ptr> connect(const std::string& host, std::uint16_t port) override {
    auto fd = caf::io::network::new_tcp_connection(host, port);
    if (!fd)
      return std::move(fd.error());
    caf::io::network::nonblocking(*fd, true);
    auto session =
        with_clean_errors([&] { return caf::openssl::make_session(system(), *fd, false); });
    if (!session) {
      caf::io::network::close_socket(*fd);
      return caf::sec::cannot_connect_to_node;
    }
    return caf::make_counted<tls_scribe>(backend(), *fd, std::move(session));
  }

  caf::expected<caf::io::doorman_ptr> open(std::uint16_t port, const char* addr,
                                           bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd)
      return std::move(fd.error());
    return caf::make_counted<tls_doorman>(backend(), *fd);
  }

private:
  default_multiplexer& backend() {
    return static_cast<default_multiplexer&>(system().middleman().backend());
  }
};

} // namespace

caf::io::middleman_actor screened_tls_middleman(caf::actor_system& sys) {
  static std::mutex spawning;
  const auto name = caf::atom("dsqTLS");
  std::lock_guard<std::mutex> guard{spawning};
  if (auto existing = sys.registry().get(name))
    return caf::actor_cast<caf::io::middleman_actor>(existing);
  auto basp = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto actor = sys.spawn<tls_middleman_actor, caf::hidden>(basp);
  // It lives as long as the network layer: when BASP's broker ends (the middleman stops), so
  // does this actor, as the OpenSSL module's own does with the module.
  caf::actor_addr weak = actor.address();
  caf::actor_cast<caf::abstract_actor*>(basp)->attach_functor(
      [weak] { caf::anon_send_exit(weak, caf::exit_reason::kill); });
  sys.registry().put(name, caf::actor_cast<caf::strong_actor_ptr>(actor));
  return caf::actor_cast<caf::io::middleman_actor>(actor);
}

} // namespace dsq
