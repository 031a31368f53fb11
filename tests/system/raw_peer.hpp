#pragma once

// A peer that speaks raw bytes to a dsq port, for the tests of what strangers can do: a TCP
// connection to 127.0.0.1, CAF's 32-byte transport header forged with any payload length, and
// the resident memory of a process.

#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

namespace dsq::system_test {

/// A TCP connection to 127.0.0.1:`port`, closed when it goes out of scope.
class raw_peer {
public:
  explicit raw_peer(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE_MESSAGE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                          "connect to 127.0.0.1:" << port);
  }
  /// The connection of socket `fd` (one that a raw_listener accepted).
  struct adopt {
    int fd;
  };
  explicit raw_peer(adopt a) : fd_(a.fd) { BOOST_REQUIRE(fd_ >= 0); }
  ~raw_peer() { ::close(fd_); }
  raw_peer(const raw_peer&) = delete;
  raw_peer& operator=(const raw_peer&) = delete;

  /// Sends what it can; false if the peer closed the connection first.
  bool send(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  /// Reads and drops whatever arrives until the other side closes the connection (true) or
  /// `timeout` passes (false).
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<char, 4096> buffer;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n <= 0)
        return true; // orderly close (0) or reset (-1)
    }
  }

private:
  int fd_ = -1;
};

/// A listening socket on 127.0.0.1 at a free port: a fake server.
class raw_listener {
public:
  raw_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    BOOST_REQUIRE(::listen(fd_, 8) == 0);
    BOOST_REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~raw_listener() { ::close(fd_); }
  raw_listener(const raw_listener&) = delete;
  raw_listener& operator=(const raw_listener&) = delete;

  std::uint16_t port() const { return port_; }

  /// The socket of the next connection, or -1 if none came within `timeout`.
  int accept(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
      return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// CAF 0.17's BASP header (32 bytes, network byte order): a handshake announcing a payload of
/// `payload_len` bytes that never comes; a client's (to a server) unless `from_server`.
inline std::string forged_transport_header(std::uint32_t payload_len, bool from_server = false) {
  std::string h(32, '\0');
  // message_type::client_handshake (1) or server_handshake (0); then padding and the flags.
  h[0] = from_server ? 0x00 : 0x01;
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<char>((payload_len >> (24 - 8 * i)) & 0xff);
  return h; // operation data, source and destination actor: zero
}

/// A memory figure of process `pid` from /proc/PID/status in KiB (`key` "VmRSS:", "VmHWM:"),
/// or -1.
inline long status_kib(pid_t pid, const std::string& key) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string word;
  while (status >> word) {
    if (word == key) {
      long kib = -1;
      status >> kib;
      return kib;
    }
    status.ignore(4096, '\n');
  }
  return -1;
}

/// The resident memory of process `pid` in KiB, or -1.
inline long resident_kib(pid_t pid) {
  return status_kib(pid, "VmRSS:");
}

/// The peak resident memory of process `pid` in KiB (an allocation already freed counts), or -1.
inline long peak_resident_kib(pid_t pid) {
  return status_kib(pid, "VmHWM:");
}

} // namespace dsq::system_test
