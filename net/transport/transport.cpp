#include "net/transport/transport.hpp"

#include "config/run_config.hpp"
#include "net/transport/screened_tls.hpp"

#include <caf/atom.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

namespace dsq {

namespace {

/// OpenSSL's reason for the last failure, for an error message.
std::string openssl_reason() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "not understood by OpenSSL";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

void check_readable(const std::string& path, const char* option) {
  std::ifstream in{path, std::ios::binary};
  char c;
  if (!in || !in.get(c))
    throw config_error(std::string{"--"} + option + "=" + path +
                       ": cannot read the file (missing, empty or not readable)");
}

} // namespace

void check_tls_files(const tls_files& tls) {
  if (!tls.enabled())
    return;
  if (tls.cert.empty() || tls.key.empty() || tls.ca.empty()) {
    std::string missing;
    for (auto [value, option] : {std::pair{&tls.cert, "--tls-cert"},
                                 std::pair{&tls.key, "--tls-key"}, std::pair{&tls.ca, "--tls-ca"}})
      if (value->empty())
        missing += (missing.empty() ? "" : ", ") + std::string{option};
    throw config_error("TLS needs --tls-cert, --tls-key and --tls-ca together; missing: " +
                       missing);
  }
  check_readable(tls.cert, "tls-cert");
  check_readable(tls.key, "tls-key");
  check_readable(tls.ca, "tls-ca");
  // Load them the way CAF's OpenSSL module will, so that a wrong file is reported now, by name,
  // rather than as a handshake that fails on every connection. The key goes first: loaded
  // after it, a certificate of another key only drops the key, which the check below reports.
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    throw config_error("cannot set up TLS: " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw config_error("--tls-key=" + tls.key + ": not a PEM private key: " + openssl_reason());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert.c_str()) != 1)
    throw config_error("--tls-cert=" + tls.cert + ": not a PEM certificate: " + openssl_reason());
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    throw config_error("--tls-key=" + tls.key + ": not the key of the certificate " + tls.cert);
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca.c_str(), nullptr) != 1)
    throw config_error("--tls-ca=" + tls.ca + ": not a PEM certificate: " + openssl_reason());
}

bool is_loopback_address(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

void check_bind_address(const std::string& bind, bool tls, bool insecure) {
  if (!tls && !insecure && !is_loopback_address(bind))
    throw config_error(
        "--bind=" + bind +
        " without TLS: plain CAF lets anyone who reaches the port send any message, so dsq "
        "server binds only to a loopback address (127.0.0.0/8, ::1, localhost) unless "
        "--tls-cert, --tls-key and --tls-ca are given (or --insecure, on a network you trust)");
}

void configure_transport(caf::actor_system_config& cfg, const tls_files& tls) {
  if (!tls.enabled())
    return;
  cfg.openssl_certificate = tls.cert;
  cfg.openssl_key = tls.key;
  cfg.openssl_cafile = tls.ca;
  cfg.load<caf::openssl::manager>();
}

namespace {

/// Why the OS refuses `bind`:`port`, found by trying it (CAF says only "tcp socket creation
/// failed" for every reason, "address already in use" included); empty if it does not.
std::string bind_failure(const std::string& bind, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (const int rc = getaddrinfo(bind.c_str(), service.c_str(), &hints, &found); rc != 0)
    return gai_strerror(rc);
  std::string why;
  for (auto* a = found; a != nullptr && why.empty(); a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    const int on = 1; // as CAF's publish asks for
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0)
      why = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(found);
  return why;
}

/// caf::openssl::publish, through the middleman actor of screened TLS connections.
caf::expected<std::uint16_t> publish_screened_tls(caf::actor_system& sys, const caf::actor& server,
                                                  std::uint16_t port, const std::string& bind) {
  caf::expected<std::uint16_t> result = caf::sec::cannot_open_port;
  caf::scoped_actor self{sys};
  self->request(screened_tls_middleman(sys), caf::infinite, caf::publish_atom::value, port,
                caf::actor_cast<caf::strong_actor_ptr>(server), std::set<std::string>{}, bind, true)
      .receive([&](std::uint16_t bound) { result = bound; },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

std::uint16_t publish_server(caf::actor_system& sys, const caf::actor& server, std::uint16_t port,
                             const std::string& bind, bool insecure) {
  const bool tls = sys.has_openssl_manager();
  try {
    check_bind_address(bind, tls, insecure);
  } catch (const config_error& e) {
    throw transport_error(e.what());
  }
  auto published = tls ? publish_screened_tls(sys, server, port, bind)
                       : sys.middleman().publish(server, port, bind.c_str(), true);
  if (!published) {
    const auto why = bind_failure(bind, port);
    throw transport_error("cannot listen on " + bind + ":" + std::to_string(port) + ": " +
                          (why.empty() ? sys.render(published.error()) : why));
  }
  return *published;
}

caf::actor network_layer(caf::actor_system& sys) {
  // The middleman creates it when it starts (the OpenSSL module uses the same one); after that,
  // this only reads the middleman's map of brokers.
  return sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

caf::actor connect_to_server(caf::actor_system& sys, const std::string& host, std::uint16_t port,
                             std::chrono::steady_clock::time_point deadline,
                             const std::function<bool()>& stop) {
  using namespace std::chrono;
  const bool tls = sys.has_openssl_manager();
  // Over TLS, dsq's connections rather than the OpenSSL module's: they screen their input.
  auto handle = tls ? screened_tls_middleman(sys) : sys.middleman().actor_handle();
  const auto address = host + ":" + std::to_string(port);
  caf::scoped_actor self{sys};
  // Nobody listening yet is the common case of a server and its workers started together (the
  // server listens once it has loaded its data): try again soon, then less often, but never
  // more than 40 ms apart (a refused connect costs little; a long pause delays the start by as
  // much once the server listens: up to 0.16 s with pauses doubling to 200 ms).
  milliseconds pause{10};
  for (;;) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    caf::actor server;
    caf::error failure;
    // The middleman's own remote_actor waits for the handshake without limit; asking its actor
    // with a timeout bounds connect, TLS handshake and CAF handshake together.
    self->request(handle, std::max(left, milliseconds{1}), caf::connect_atom::value, host, port)
        .receive(
            [&](caf::node_id&, caf::strong_actor_ptr& ptr, std::set<std::string>& ifs) {
              if (!ptr)
                failure = caf::sec::no_actor_published_at_port;
              else if (!ifs.empty())
                failure = caf::sec::unexpected_actor_messaging_interface;
              else
                server = caf::actor_cast<caf::actor>(std::move(ptr));
            },
            [&](caf::error& err) { failure = std::move(err); });
    if (server)
      return server;
    const bool nobody_listens = failure == caf::sec::cannot_connect_to_node;
    if (nobody_listens && steady_clock::now() < deadline && !(stop && stop())) {
      std::this_thread::sleep_for(std::min(pause, left));
      pause = std::min(2 * pause, milliseconds{40});
      continue;
    }
    if (failure == caf::sec::request_timeout)
      throw transport_error(
          "no answer from " + address + " within --connect-timeout: something accepted the " +
          "connection but did not complete the " + (tls ? "TLS " : "") +
          "handshake (not a dsq server, or one " + (tls ? "without" : "with") + " TLS?)");
    if (failure == caf::sec::disconnect_during_handshake)
      throw transport_error(
          address + " closed the connection during the handshake" +
          (tls ? ": the server refused this worker's certificate or the worker refused the "
                 "server's (both must be signed by the CA of --tls-ca), or it does not use TLS"
               : ": the server may require TLS (--tls-cert, --tls-key, --tls-ca)"));
    throw transport_error("no dsq server at " + address + ": " + sys.render(failure));
  }
}

void reconnect_to_server(caf::actor_system& sys, std::string host, std::uint16_t port,
                         std::chrono::seconds timeout, std::function<bool()> stop,
                         std::function<void(caf::actor)> reached,
                         std::function<void(std::string)> given_up) {
  // connect_to_server blocks: never on the caller's thread (a worker's, which must keep
  // answering).
  std::thread{[&sys, host, port, timeout, stop, reached, given_up] {
    const auto address = host + ":" + std::to_string(port);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // Unlike a first connect, any failure is tried again until the deadline: a server being
    // restarted can drop a connection during its handshake (seen while its port came back).
    for (;;) {
      try {
        auto server = connect_to_server(sys, host, port, deadline, stop);
        reached(std::move(server));
        return;
      } catch (const std::exception& e) {
        if (std::chrono::steady_clock::now() < deadline && !(stop && stop())) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          continue;
        }
        given_up("lost the server at " + address +
                 " and could not reach it again within --reconnect-timeout: " + e.what());
        return;
      }
    }
  }}.detach();
}

} // namespace dsq
