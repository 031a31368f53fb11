// dsq's TCP connections on CAF's middleman (net/transport/eager_tcp.hpp,
// net/transport/read_ahead_tcp.hpp): a read takes what the socket holds and hands it out as CAF
// asks, a send goes out at once, and messages between two processes arrive whole and in order,
// large ones included.
#define BOOST_TEST_MODULE eager_tcp
#include <boost/test/unit_test.hpp>

#include "net/transport/eager_tcp.hpp"
#include "net/transport/message_size_limit.hpp"
#include "net/transport/read_ahead_tcp.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace dsq;
using caf::io::network::rw_state;

namespace {

/// A connected pair of non-blocking stream sockets: `reader` is read through the policy.
struct socket_pair {
  int reader = -1;
  int writer = -1;
  socket_pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    reader = fds[0];
    writer = fds[1];
    for (int fd : fds)
      BOOST_REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  }
  ~socket_pair() {
    ::close(reader);
    if (writer >= 0)
      ::close(writer);
  }
  void write(const std::string& bytes) const {
    BOOST_REQUIRE(::send(writer, bytes.data(), bytes.size(), 0) ==
                  static_cast<ssize_t>(bytes.size()));
  }
  void close_writer() {
    ::close(writer);
    writer = -1;
  }
};

/// `n` bytes that differ with `seed` and position.
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + seed * 7919) % 251);
  return s;
}

/// One read_some of `len` bytes: its state and the bytes it read.
struct read_result {
  rw_state state;
  std::string bytes;
};

read_result read(read_ahead_tcp& policy, int fd, std::size_t len) {
  std::string out(len, '\0');
  std::size_t got = 0;
  auto state = policy.read_some(got, fd, out.data(), len);
  out.resize(got);
  return {state, out};
}

} // namespace

BOOST_AUTO_TEST_SUITE(read_ahead)

BOOST_AUTO_TEST_CASE(one_recv_serves_the_headers_and_payloads_of_every_message_that_arrived) {
  socket_pair s;
  read_ahead_tcp policy;
  std::string sent;
  for (unsigned m = 0; m < 3; ++m)
    sent += pattern(40, m) + pattern(31, m + 10); // a BASP header, then a payload
  s.write(sent);
  std::string received;
  for (unsigned m = 0; m < 3; ++m)
    for (std::size_t part : {40, 31}) {
      auto r = read(policy, s.reader, part);
      BOOST_TEST((r.state == rw_state::success));
      BOOST_TEST(r.bytes.size() == part);
      received += r.bytes;
      // CAF's read loop must go on while bytes wait here: epoll cannot report them.
      BOOST_TEST(policy.must_read_more(s.reader, 0) == (received.size() < sent.size()));
    }
  BOOST_TEST(received == sent);
  // The one recv left the socket empty, so the loop ends without asking the kernel again:
  // bytes that arrive now are not read by this call (epoll reports them), but by the next.
  s.write("later");
  auto ends = read(policy, s.reader, 40);
  BOOST_TEST((ends.state == rw_state::success));
  BOOST_TEST(ends.bytes.empty());
  auto next = read(policy, s.reader, 40);
  BOOST_TEST(next.bytes == "later");
}

BOOST_AUTO_TEST_CASE(a_new_turn_of_the_event_loop_reads_the_socket_again) {
  socket_pair s;
  read_ahead_tcp policy;
  s.write("abc");
  BOOST_TEST(read(policy, s.reader, 40).bytes == "abc"); // the socket is empty now
  // CAF's loop ended this turn without another read (a broker that stopped reading, say).
  // Bytes arrive and epoll reports them: the next turn reads them at once.
  s.write("def");
  policy.start_turn();
  BOOST_TEST(read(policy, s.reader, 40).bytes == "def");
}

BOOST_AUTO_TEST_CASE(an_empty_socket_reads_nothing) {
  socket_pair s;
  read_ahead_tcp policy;
  auto r = read(policy, s.reader, 40);
  BOOST_TEST((r.state == rw_state::success));
  BOOST_TEST(r.bytes.empty());
  BOOST_TEST(!policy.holds_bytes());
}

BOOST_AUTO_TEST_CASE(a_large_read_goes_straight_to_the_callers_buffer) {
  socket_pair s;
  read_ahead_tcp policy;
  const auto payload = pattern(100 * 1024, 3);
  std::size_t written = 0;
  // A socketpair's buffer may not take it all at once: write what fits, read, repeat.
  std::string received;
  while (received.size() < payload.size()) {
    if (written < payload.size()) {
      auto n = ::send(s.writer, payload.data() + written, payload.size() - written, 0);
      if (n > 0)
        written += static_cast<std::size_t>(n);
    }
    auto r = read(policy, s.reader, payload.size() - received.size());
    BOOST_REQUIRE((r.state == rw_state::success));
    received += r.bytes;
    BOOST_TEST(!policy.holds_bytes()); // nothing was read ahead for a large read
  }
  BOOST_TEST(received == payload);
}

BOOST_AUTO_TEST_CASE(a_closed_connection_fails_once_its_bytes_are_out) {
  socket_pair s;
  read_ahead_tcp policy;
  s.write("0123456789");
  s.close_writer();
  BOOST_TEST(read(policy, s.reader, 4).bytes == "0123");
  BOOST_TEST(read(policy, s.reader, 6).bytes == "456789");
  // At most one call that ends the loop (the socket looked empty), then the end of the stream.
  auto r = read(policy, s.reader, 40);
  if (r.state == rw_state::success) {
    BOOST_TEST(r.bytes.empty());
    r = read(policy, s.reader, 40);
  }
  BOOST_TEST((r.state == rw_state::failure));
}

BOOST_AUTO_TEST_SUITE_END()

// -- between two processes -----------------------------------------------------------------------

namespace {

constexpr auto patience = std::chrono::seconds(60);

/// An actor system whose middleman makes dsq's connections.
struct eager_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  eager_system() {
    cfg.load<caf::io::middleman, eager_multiplexer>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }
  eager_multiplexer& mpx() { return dynamic_cast<eager_multiplexer&>(sys->middleman().backend()); }
};

/// Echoes (seq, bytes) back to its sender.
caf::behavior echo(caf::event_based_actor*) {
  return {
      [](std::uint64_t seq, const std::string& bytes) { return caf::make_message(seq, bytes); }};
}

/// A child process with an echo actor published on 127.0.0.1 over dsq's connections; it ends
/// when the actor quits, when this process ends, or with this object. (Two actor systems of
/// one process that reach each other do not shut down in CAF 0.17, so the peer is a process.)
/// Make it before any actor system of this process: a fork copies only the calling thread.
struct echo_process {
  pid_t pid = -1;
  std::uint16_t port = 0;
  echo_process() {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      eager_system server;
      auto e = server.sys->spawn(echo);
      auto published = server.sys->middleman().publish(e, 0, "127.0.0.1");
      std::uint16_t p = published ? *published : 0;
      if (::write(fds[1], &p, sizeof p) != sizeof p || p == 0)
        ::_exit(1);
      e = nullptr;
      server.sys->await_all_actors_done();
      ::_exit(0); // the system's destructor is not needed by anyone
    }
    ::close(fds[1]);
    // The child writes its port, or dies first (0 bytes); a child that hangs is given up on.
    pollfd ready{fds[0], POLLIN, 0};
    const int waited = ::poll(&ready, 1, static_cast<int>(patience.count() * 1000));
    auto n = waited == 1 ? ::read(fds[0], &port, sizeof port) : -1;
    ::close(fds[0]);
    BOOST_REQUIRE_MESSAGE(n == sizeof port && port != 0, "the echo process did not publish");
  }
  ~echo_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

/// The echo actor of `peer` as `client` sees it.
caf::actor connect(eager_system& client, const echo_process& peer) {
  auto remote = client.sys->middleman().remote_actor("127.0.0.1", peer.port);
  BOOST_REQUIRE_MESSAGE(remote, (remote ? "" : client.sys->render(remote.error())));
  return *remote;
}

/// Sends every message of `sizes` to `target` at once, then checks that the echoes come back
/// whole and in order.
void round_trip(caf::actor_system& sys, const caf::actor& target,
                const std::vector<std::size_t>& sizes) {
  caf::scoped_actor self{sys};
  for (std::uint64_t i = 0; i < sizes.size(); ++i)
    self->send(target, i, pattern(sizes[i], static_cast<unsigned>(i)));
  for (std::uint64_t i = 0; i < sizes.size(); ++i) {
    bool timed_out = false;
    self->receive(
        [&](std::uint64_t seq, const std::string& bytes) {
          BOOST_REQUIRE_EQUAL(seq, i);
          BOOST_REQUIRE(bytes == pattern(sizes[i], static_cast<unsigned>(i)));
        },
        caf::after(patience) >> [&] { timed_out = true; });
    BOOST_REQUIRE_MESSAGE(!timed_out, "echo " << i << " of " << sizes.size() << " never came");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(between_processes)

BOOST_AUTO_TEST_CASE(small_messages_arrive_in_order_and_are_sent_without_waiting_for_epoll) {
  echo_process peer;
  eager_system client;
  auto target = connect(client, peer);
  const auto before = client.mpx().sends_at_once();
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 2000; ++i)
    sizes.push_back(i % 97); // many messages per read, and messages split across reads
  round_trip(*client.sys, target, sizes);
  // A message goes out from flush() itself unless the one before it is still queued.
  BOOST_TEST(client.mpx().sends_at_once() - before > 0u);
}

BOOST_AUTO_TEST_CASE(messages_larger_than_the_socket_buffers_arrive_whole) {
  echo_process peer;
  eager_system client;
  auto target = connect(client, peer);
  // 16 MiB does not fit into a socket's buffers: part goes out at once, the rest when epoll
  // reports the socket writable; the reader gets it by large reads past its buffer.
  round_trip(*client.sys, target, {16u << 20, 5, 300 * 1024, 1, 64 * 1024, 32 * 1024 - 1});
}

BOOST_AUTO_TEST_CASE(a_peer_that_goes_away_is_noticed) {
  echo_process peer;
  eager_system client;
  auto target = connect(client, peer);
  round_trip(*client.sys, target, {10});
  caf::scoped_actor self{*client.sys};
  self->monitor(target);
  ::kill(peer.pid, SIGKILL); // its sockets close with it
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; }, caf::after(patience) >> [] {});
  BOOST_TEST(down);
}

// A broker that reads one message per trigger() stops reading with bytes read ahead; they
// have left the socket, so epoll will not report them: trigger() must still hand them out.
namespace {

/// Reads 4-byte messages, one per `more` (CAF's trigger), and forwards them to `collector`.
caf::behavior one_at_a_time(caf::io::broker* self, caf::io::connection_handle hdl,
                            caf::actor collector) {
  self->configure_read(hdl, caf::io::receive_policy::exactly(4));
  self->trigger(hdl, 1);
  return {
      [=](const caf::io::new_data_msg& msg) {
        self->send(collector, std::string(msg.buf.begin(), msg.buf.end()));
      },
      [](const caf::io::connection_passivated_msg&) {},
      [=](caf::atom_value) { self->trigger(hdl, 1); },
      [=](const caf::io::connection_closed_msg&) { self->quit(); },
  };
}

/// A listening socket on 127.0.0.1 and a free port.
struct listener {
  int fd = -1;
  std::uint16_t port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    BOOST_REQUIRE(::listen(fd, 1) == 0);
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~listener() { ::close(fd); }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_broker_that_reads_on_trigger_gets_the_bytes_read_ahead) {
  eager_system client;
  listener l;
  caf::scoped_actor self{*client.sys};
  auto broker =
      client.sys->middleman().spawn_client(one_at_a_time, "127.0.0.1", l.port, caf::actor{self});
  BOOST_REQUIRE(broker);
  int peer = ::accept(l.fd, nullptr, nullptr); // connected already: returns at once
  BOOST_REQUIRE(peer >= 0);
  const std::string sent = "aaaabbbbcccc"; // one send: one read takes all three
  BOOST_REQUIRE(::send(peer, sent.data(), sent.size(), 0) == static_cast<ssize_t>(sent.size()));
  for (const char* expected : {"aaaa", "bbbb", "cccc"}) {
    std::string got;
    self->receive([&](const std::string& bytes) { got = bytes; }, caf::after(patience) >> [] {});
    BOOST_TEST(got == expected);
    self->send(*broker, caf::atom("more"));
  }
  ::close(peer);
}

// A peer that stops reading: what a broker writes towards it queues in this process. Beyond
// outgoing_buffer_limit() (4 x the message limit, at least 8 MiB) the connection is closed and
// the queue freed (issue 29: a server grew to 639 MB answering an attacker that no longer read).
namespace {

/// Writes 1 MiB to `hdl` on every `more`, answering `collector` with the bytes still queued;
/// tells it `closed` when the connection is.
caf::behavior flooder(caf::io::broker* self, caf::io::connection_handle hdl, caf::actor collector) {
  self->configure_read(hdl, caf::io::receive_policy::at_most(1024));
  return {
      [=](caf::atom_value) {
        auto& out = self->wr_buf(hdl);
        out.insert(out.end(), std::size_t{1} << 20, 'x');
        self->flush(hdl);
        self->send(collector, static_cast<std::uint64_t>(self->wr_buf(hdl).size()));
      },
      [](const caf::io::new_data_msg&) {},
      [=](const caf::io::connection_closed_msg&) {
        self->send(collector, caf::atom("closed"));
        self->quit();
      },
  };
}

} // namespace

BOOST_AUTO_TEST_CASE(a_peer_that_stops_reading_is_dropped_beyond_the_outgoing_limit) {
  set_message_size_limit(std::uint64_t{1} << 20);
  const auto limit = outgoing_buffer_limit();
  BOOST_REQUIRE(limit == std::uint64_t{8} << 20); // the floor: 4 x 1 MiB is less
  eager_system client;
  listener l;
  caf::scoped_actor self{*client.sys};
  auto broker =
      client.sys->middleman().spawn_client(flooder, "127.0.0.1", l.port, caf::actor{self});
  BOOST_REQUIRE(broker);
  int peer = ::accept(l.fd, nullptr, nullptr); // accepted, never read
  BOOST_REQUIRE(peer >= 0);
  std::uint64_t most_queued = 0;
  bool closed = false;
  // 64 MiB: far more than the socket buffers of both ends and the limit together.
  for (int i = 0; i < 64 && !closed; ++i) {
    self->send(*broker, caf::atom("more"));
    self->receive([&](std::uint64_t queued) { most_queued = std::max(most_queued, queued); },
                  [&](caf::atom_value) { closed = true; }, caf::after(patience) >> [] {});
  }
  if (!closed)
    self->receive([&](caf::atom_value) { closed = true; }, caf::after(patience) >> [] {});
  BOOST_TEST(closed, "the connection to a peer that does not read stayed open");
  BOOST_TEST(most_queued <= limit + (std::uint64_t{1} << 20),
             most_queued << " bytes queued for the peer, limit " << limit);
  ::close(peer);
  set_message_size_limit(0);
}

BOOST_AUTO_TEST_SUITE_END()
