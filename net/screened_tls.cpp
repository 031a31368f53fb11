#include "net/screened_tls.hpp"

#include "net/screened_input.hpp"

#include <caf/atom.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/io/scribe.hpp>
#include <caf/make_counted.hpp>
#include <caf/openssl/session.hpp>
#include <caf/send.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace dsq {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using caf::io::network::rw_state;

/// Reads and writes of one TLS connection, through its OpenSSL session (which the scribe owns).
struct tls_policy {
  explicit tls_policy(caf::openssl::session* s) : session(s) {}

  rw_state read_some(std::size_t& result, native_socket fd, void* buf, std::size_t len) {
    return session->read_some(result, fd, buf, len);
  }

  rw_state write_some(std::size_t& result, native_socket fd, const void* buf, std::size_t len) {
    return session->write_some(result, fd, buf, len);
  }

  /// A TLS record is decrypted whole: bytes of it may wait in the session, not in the socket.
  bool must_read_more(native_socket fd, std::size_t threshold) {
    return session->must_read_more(fd, threshold);
  }

  caf::openssl::session* session;
};

/// A TLS connection as the OpenSSL module makes it, whose input passes dsq's screen before it
/// reaches the broker.
class tls_scribe final : public caf::io::scribe {
public:
  tls_scribe(default_multiplexer& mpx, native_socket fd, caf::openssl::session_ptr session)
      : scribe(caf::io::network::conn_hdl_from_socket(fd)), session_(std::move(session)),
        stream_(mpx, fd, session_.get()) {}

  void configure_read(caf::io::receive_policy::config config) override {
    stream_.configure_read(config);
    if (!launched_) {
      launched_ = true;
      stream_.start(this);
      // Until the handshake is done, SSL_connect or SSL_accept must run again when the socket
      // is writable: ask epoll for that even with nothing to write.
      stream_.force_empty_write(this);
    }
  }

  void ack_writes(bool enable) override { stream_.ack_writes(enable); }

  std::vector<char>& wr_buf() override { return stream_.wr_buf(); }

  std::vector<char>& rd_buf() override { return stream_.rd_buf(); }

  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }

  void flush() override { stream_.flush(this); }

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

private:
  bool launched_ = false;
  screened_input input_;
  caf::openssl::session_ptr session_; ///< before stream_, whose policy points into it
  caf::io::network::stream_impl<tls_policy> stream_;
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
    auto session = caf::openssl::make_session(parent()->system(), fd, true);
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
    auto session = caf::openssl::make_session(system(), *fd, false);
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
