// attack_client: a hostile peer of a `dsq server`, for tests/system/test_attacks.cpp (and, over
// TLS with a certificate of the cluster's CA, test_tls.cpp).
// It speaks the protocol of net/protocol/messages.hpp through CAF like a worker, but lies:
//
//   attack_client HOST:PORT ATTACK [CERT KEY CA]
//
// With CERT, KEY and CA it connects over TLS (as a peer with a certificate of the cluster's CA,
// the strongest attacker TLS admits).
//
//   stop            a stranger (never registered) sends stop_atom to the server
//   nan-identity    registers, then pushes an identity-encoded gradient of NaN every step
//   huge-identity   registers, then pushes identity-encoded 1e30 every step
//   huge-sign       registers, then pushes sign-encoded 1e30 every step
//   nan-loss        registers, then pushes a valid zero gradient that reports a loss of NaN
//                   (as if the shared model had diverged) every step
//   wrong-operator  registers, then pushes a top-k encoding (the run uses sign) every step
//   spoof           registers, pushes zeros under its own id and +10 per coordinate (sign,
//                   within any sane norm bound) under every other worker's id, every step
//   error-exit      a stranger sends an error message and an exit message (kill) to the server,
//                   from an actor and anonymously: CAF's default handlers would end the server
//   silent          registers twice and never says anything more
//   huge-length     a stranger sends a push whose payload announces 1 GiB and carries 16
//                   (CAF 0.17 would allocate the announced size before reading; see
//                   net/protocol/bounded_bytes.hpp), then a registration of a wrong protocol
//                   version, whose refusal shows that the server has read the lie
//   forged-stop     a stranger sends stop_atom in the server's own name (caf::send_as with the
//                   server as sender: a routed message claiming the server's node)
//   forged-kill     a stranger sends an exit message (kill) in the server's own name
//   tick-flood      a stranger sends the server's private timer atom 200,000 times, anonymously
//   tls-huge-header with CERT, KEY and CA: a TLS peer (OpenSSL, no CAF) that completes the TLS
//                   handshake and then sends a raw BASP header announcing 1 GiB; reports
//                   whether the server closed the connection
//   bad-variant     a stranger connects, says "attack: armed" and waits for SIGUSR1 (the test
//                   picks the moment), then sends a message whose element claims to be CAF's
//                   built-in config_value but carries a variant tag no config_value has (CAF
//                   0.17's deserializer throws on it: dsq's connections close that connection,
//                   over CAF's own (--tcp=caf) it ends the server's network layer)
//   plus-ten        registers, then pushes sign-encoded +10 on every coordinate every step:
//                   well-formed and within the norm bound, it passes every check of a push
//                   (issue 29: the run must end as diverged, not report success)
//   minus-ten       the same with -10: the server's descent step adds to every weight, and the
//                   activations of an MLP grow with them
//   junk-long-host  sends 2000 messages the server has no handler for (an atom of its own and
//                   a number), then registers with a 1 MiB host name full of control
//                   characters, and leaves as soon as it is welcomed (issue 29: the log must
//                   get a few lines, cut and printable, not 2000 or a megabyte)
//   forged-grant    (async runs) registers, then answers every grant with a push of zeros
//                   under the grant's number + 1000, a grant the server never issued (issue 29:
//                   it was taken, and the worker's real pushes then acknowledged as resends)
//   replay          registers, pushes sign zeros at every version, and on every update it
//                   receives (resent ones too) sends every push it ever made again (issue 29:
//                   a server grew to 16.7 GB and was killed for memory)
//   probe-flood     registers, pushes once, sends 20,000 probes, says "attack: stops reading"
//                   once the server told it to go (or after 10 s) and stops itself (SIGSTOP):
//                   its socket is no longer read (issue 29: 20,000 answers grew a server by
//                   600 MB)
//
// It prints one line per event ("attack: ..."), and exits 0 once the server has ended, told it
// to go, or removed it (it stops receiving updates: it waits for the server's end then). It
// gives up after 120 s. Its exit says nothing about the attack's success: the test judges the
// server's run.

#include "compression/make_compressor.hpp"
#include "compression/wire.hpp"
#include "net/protocol/atoms.hpp"
#include "net/protocol/messages.hpp"
#include "net/protocol/register_types.hpp"
#include "net/transport/transport.hpp"
#include "tests/net/forged_config_value.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace dsq;
using namespace std::chrono_literals;

void say(const std::string& line) {
  std::cout << "attack: " << line << std::endl;
}

/// The server's private timer (actors/parameter_server.cpp).
using tick_atom = caf::atom_constant<caf::atom("tick")>;

/// A TLS connection with the certificate `tls` to 127.0.0.1:`port`, made with OpenSSL alone,
/// that sends CAF's 32-byte BASP header announcing a 1 GiB payload (a client handshake) once
/// the TLS handshake is done and the server's BASP handshake arrived; then reads until the
/// server closes the connection. 0 if it did, 1 if not within 20 s.
int send_huge_header_over_tls(const std::string& address, const tls_files& tls) {
  auto colon = address.rfind(':');
  const auto port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx, tls.ca.c_str(), nullptr) != 1)
    throw std::runtime_error("cannot load the certificate, key or CA");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect to " + address);
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1)
    throw std::runtime_error("the TLS handshake failed");
  say("TLS handshake done");
  char buffer[4096];
  if (SSL_read(ssl, buffer, sizeof buffer) <= 0) // the server's BASP handshake
    throw std::runtime_error("no BASP handshake from the server");
  unsigned char header[32] = {};
  header[0] = 0x01; // message_type::client_handshake; padding, flags, then the length
  const std::uint32_t announced = std::uint32_t{1} << 30;
  for (int i = 0; i < 4; ++i)
    header[4 + i] = static_cast<unsigned char>(announced >> (24 - 8 * i));
  if (SSL_write(ssl, header, sizeof header) != static_cast<int>(sizeof header))
    throw std::runtime_error("cannot send the header");
  say("sent a BASP header announcing 1 GiB over TLS");
  for (;;) {
    const int n = SSL_read(ssl, buffer, sizeof buffer);
    if (n > 0)
      continue;
    const int error = SSL_get_error(ssl, n);
    const bool timed_out = error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
    say(timed_out ? "the connection is still open after 20 s" : "the server closed the connection");
    return timed_out ? 1 : 0;
  }
}

/// `spec` applied to `values`, in the wire format.
std::vector<std::uint8_t> encode(const std::string& spec, const std::vector<float>& values) {
  rng_engine rng{7};
  return to_bytes(make_compressor(spec)->compress(values, rng));
}

std::vector<std::uint8_t> push_payload(const std::string& attack, std::size_t dim) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (attack == "nan-identity")
    return encode("identity", std::vector<float>(dim, nan));
  if (attack == "huge-identity")
    return encode("identity", std::vector<float>(dim, 1e30f));
  if (attack == "huge-sign")
    return encode("sign", std::vector<float>(dim, 1e30f));
  if (attack == "nan-loss")
    return encode("sign", std::vector<float>(dim, 0.0f));
  if (attack == "wrong-operator") {
    std::vector<float> small(dim);
    for (std::size_t i = 0; i < dim; ++i)
      small[i] = 0.01f * static_cast<float>(i % 7) - 0.03f;
    return encode("topk:k=0.5", small);
  }
  if (attack == "replay" || attack == "probe-flood")
    return encode("sign", std::vector<float>(dim, 0.0f));
  if (attack == "plus-ten")
    return encode("sign", std::vector<float>(dim, 10.0f));
  if (attack == "minus-ten")
    return encode("sign", std::vector<float>(dim, -10.0f));
  throw std::invalid_argument("no payload for " + attack);
}

gradient_push make_push(std::uint32_t id, std::uint64_t step, std::vector<std::uint8_t> payload,
                        float loss = 1.0f) {
  gradient_push p;
  p.worker_id = id;
  p.step = step;
  p.loss = loss;
  p.payload = std::move(payload);
  return p;
}

/// Registers `self` with `server` the way a worker does.
void register_with(caf::scoped_actor& self, const caf::actor& server, const std::string& host) {
  worker_hello hello;
  hello.worker = caf::actor_cast<caf::actor>(self);
  hello.host = host;
  self->send(server, register_atom::value, std::move(hello));
}

/// What a gradient_push looks like on the wire, with a payload length that lies.
struct lying_push {
  std::uint32_t worker_id = 0;
  std::uint64_t step = 0;
  float loss = 1.0f;
  std::uint64_t model_digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lying_push& x) {
  if constexpr (Inspector::reads_state &&
                std::is_same_v<typename Inspector::result_type, caf::error>) {
    std::size_t announced = std::size_t{1} << 30;
    char carried[16] = {};
    return caf::error::eval([&] { return f(x.worker_id, x.step, x.loss, x.model_digest); },
                            [&] { return f.begin_sequence(announced); },
                            [&] { return f.apply_raw(sizeof carried, carried); },
                            [&] { return f.end_sequence(); });
  } else {
    return f(x.worker_id, x.step, x.loss, x.model_digest);
  }
}

/// Blocks SIGUSR1 in this thread and in every thread started after (CAF's), so that
/// wait_for_sigusr1 receives it.
void block_sigusr1() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void wait_for_sigusr1() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  int sig = 0;
  sigwait(&set, &sig);
}

class config : public caf::actor_system_config {
public:
  config(const std::string& attack, const tls_files& tls) {
    register_message_types(*this);
    // Under the server's name for a push: the server decodes it as one.
    if (attack == "huge-length")
      add_message_type<lying_push>("dsq::gradient_push");
    if (attack == "bad-variant")
      add_message_type<testing::forged_config_value>("@config_value");
    load<caf::io::middleman>();
    configure_transport(*this, tls); // after the middleman, which TLS needs; nothing without
  }
};

int play(caf::actor_system& sys, const std::string& address, const std::string& attack) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("expected HOST:PORT, got " + address);
  auto server = connect_to_server(sys, address.substr(0, colon),
                                  static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))),
                                  std::chrono::steady_clock::now() + 10s);
  say("connected to " + address);
  caf::scoped_actor self{sys};
  self->monitor(server);
  const auto give_up = std::chrono::steady_clock::now() + 120s;

  if (attack == "huge-length" || attack == "bad-variant") {
    if (attack == "huge-length") {
      self->send(server, push_atom::value, lying_push{});
      say("sent a push announcing 1 GiB of payload");
    } else {
      say("armed");
      wait_for_sigusr1();
      self->send(server, testing::forged_config_value{});
      say("sent a config_value with an invalid variant tag");
    }
    worker_hello stale;
    stale.protocol = 0;
    stale.worker = caf::actor_cast<caf::actor>(self);
    self->send(server, register_atom::value, std::move(stale));
    self->receive([&](reject_atom, const farewell& f) { say("the server answered: " + f.reason); },
                  [&](caf::down_msg&) { say("the server ended"); },
                  caf::after(20s) >> [&] { say("no answer from the server"); });
    if (attack == "bad-variant")
      return 0; // nothing more to say: the connection is gone
  } else if (attack == "forged-stop") {
    // The server's proxy as sender: CAF writes a routed message whose source is the server's
    // node and actor; the server's own broker would deliver it as a message from itself.
    caf::send_as(server, server, stop_atom::value);
    say("sent stop_atom in the server's name");
  } else if (attack == "forged-kill") {
    caf::send_as(server, server, caf::exit_msg{server.address(), caf::exit_reason::kill});
    say("sent an exit (kill) in the server's name");
  } else if (attack == "tick-flood") {
    for (int i = 0; i < 200000; ++i)
      caf::anon_send(server, tick_atom::value);
    say("sent 200000 ticks");
  } else if (attack == "stop") {
    self->send(server, stop_atom::value);
    caf::anon_send(server, stop_atom::value);
    say("sent stop_atom twice (from a scoped actor and anonymously)");
  } else if (attack == "error-exit") {
    self->send(server, caf::make_error(caf::sec::runtime_error, "an attacker's error"));
    self->send_exit(server, caf::exit_reason::kill);
    caf::anon_send(server, caf::make_error(caf::sec::runtime_error, "an attacker's error"));
    caf::anon_send_exit(server, caf::exit_reason::kill);
    say("sent an error and an exit (kill), from an actor and anonymously");
  } else if (attack == "silent") {
    caf::scoped_actor second{sys};
    register_with(self, server, "silent attacker 1");
    register_with(second, server, "silent attacker 2");
    say("registered twice; silent from now on");
    // `second` must outlive the run: a destroyed actor would be reported down to the server.
    bool done = false;
    while (!done && std::chrono::steady_clock::now() < give_up)
      self->receive([&](caf::down_msg&) { done = true; },
                    [&](shutdown_atom, const farewell& f) { say("told to go: " + f.reason); },
                    [&](reject_atom, const farewell& f) { say("rejected: " + f.reason); },
                    caf::after(1s) >> [] {});
    say(done ? "the server ended" : "gave up waiting");
    return 0;
  } else if (attack == "junk-long-host") {
    using junk_atom = caf::atom_constant<caf::atom("junk")>;
    for (int i = 0; i < 2000; ++i)
      self->send(server, junk_atom::value, i);
    say("sent 2000 unexpected messages");
    std::string host(std::size_t{1} << 20, 'h');
    for (std::size_t i = 0; i < host.size(); i += 1000)
      host[i] = '\n';
    register_with(self, server, host);
    say("registered");
  } else {
    if (attack != "spoof" && attack != "forged-grant" && attack != "replay" &&
        attack != "probe-flood")
      push_payload(attack, 8); // an unknown attack fails here, before it registers
    register_with(self, server, "attacker");
    say("registered");
  }

  std::uint32_t id = 0;
  std::size_t dim = 0;
  std::vector<std::uint8_t> payload, zeros, spoofed;
  auto push = [&](std::uint64_t version, std::uint64_t total) {
    if (version >= total)
      return;
    if (attack == "spoof") {
      self->send(server, push_atom::value, make_push(id, version, zeros));
      for (std::uint32_t other = 0; other < 8; ++other)
        if (other != id)
          self->send(server, push_atom::value, make_push(other, version, spoofed));
    } else {
      const float loss = attack == "nan-loss" ? std::numeric_limits<float>::quiet_NaN() : 1.0f;
      self->send(server, push_atom::value, make_push(id, version, payload, loss));
    }
  };
  std::uint64_t total = 0, pushes = 0;
  bool done = false;
  // Whatever the attack has no use for (acks, resyncs, "sent" notes) is dropped, not kept in
  // the mailbox for every later receive to look through.
  auto drop = [](caf::message_view&) -> caf::result<caf::message> { return caf::message{}; };
  // replay: every push made, and the newest version pushed at.
  std::vector<gradient_push> history;
  std::uint64_t replayed = 0;
  auto replay = [&](std::uint64_t version) {
    if (version < total && (history.empty() || version > history.back().step)) {
      history.push_back(make_push(id, version, payload));
      self->send(server, push_atom::value, history.back());
    }
    for (const auto& p : history)
      self->send(server, push_atom::value, p);
    replayed += history.size();
    if (replayed / 1000 != (replayed - history.size()) / 1000)
      say("replayed " + std::to_string(replayed) + " pushes");
  };
  // probe-flood: the flood, then no more reading.
  auto flood_then_stop = [&] {
    for (int i = 0; i < 20000; ++i)
      self->send(server, probe_atom::value, std::uint64_t{1});
    say("sent 20000 probes");
    bool told = false;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!told && std::chrono::steady_clock::now() < until)
      self->receive(
          [&](shutdown_atom, const farewell& f) {
            told = true;
            say("told to go: " + f.reason);
          },
          [&](reject_atom, const farewell& f) {
            told = true;
            say("rejected: " + f.reason);
          },
          [&](caf::down_msg&) { told = true; }, caf::others >> drop, caf::after(1s) >> [] {});
    say("stops reading");
    std::raise(SIGSTOP);
  };
  while (!done && std::chrono::steady_clock::now() < give_up) {
    self->receive(
        [&](welcome_atom, const welcome& w) {
          id = w.worker_id;
          dim = w.model.size();
          total = w.total_steps;
          if (attack == "spoof") {
            zeros = encode("sign", std::vector<float>(dim, 0.0f));
            spoofed = encode("sign", std::vector<float>(dim, 10.0f));
          } else if (attack != "stop" && attack != "junk-long-host" && attack != "forged-grant") {
            payload = push_payload(attack, dim);
          }
          say("welcomed as worker " + std::to_string(id) + " at version " +
              std::to_string(w.version) + ", dimension " + std::to_string(dim));
          if (attack == "junk-long-host") {
            self->send(server, leave_atom::value, id);
            say("left");
            return;
          }
          if (attack == "replay")
            return replay(w.version);
          if (attack != "forged-grant") {
            push(w.version, total);
            ++pushes;
          }
          if (attack == "probe-flood")
            flood_then_stop();
        },
        [&](update_atom, const model_update& u) {
          if (attack == "forged-grant" || attack == "probe-flood")
            return;
          if (attack == "replay")
            return replay(u.version);
          push(u.version, total);
          if (++pushes % 100 == 0)
            say("still a member at version " + std::to_string(u.version));
        },
        [&](grant_atom, std::uint64_t version, std::uint64_t number) {
          if (attack != "forged-grant")
            return;
          auto p = make_push(id, version, encode("sign", std::vector<float>(dim, 0.0f)));
          p.grant = number + 1000;
          self->send(server, push_atom::value, std::move(p));
          if (++pushes % 100 == 1)
            say("pushed under grant " + std::to_string(number + 1000));
        },
        [&](shutdown_atom, const farewell& f) { say("told to go: " + f.reason); },
        [&](reject_atom, const farewell& f) { say("rejected: " + f.reason); },
        [&](caf::down_msg&) { done = true; }, caf::others >> drop, caf::after(1s) >> [] {});
  }
  say(done ? "the server ended" : "gave up waiting");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 6) {
    std::cerr
        << "usage: attack_client HOST:PORT stop|nan-identity|huge-identity|huge-sign|nan-loss|"
           "wrong-operator|spoof|silent|huge-length|bad-variant|error-exit|forged-stop|"
           "forged-kill|tick-flood|plus-ten|minus-ten|junk-long-host|forged-grant|replay|"
           "probe-flood|tls-huge-header [CERT KEY CA]\n";
    return 2;
  }
  block_sigusr1();
  try {
    const tls_files tls = argc == 6 ? tls_files{argv[3], argv[4], argv[5]} : tls_files{};
    if (std::string{argv[2]} == "tls-huge-header") {
      auto code = send_huge_header_over_tls(argv[1], tls);
      std::fflush(stdout);
      return code;
    }
    config cfg{argv[2], tls};
    caf::actor_system sys{cfg};
    auto code = play(sys, argv[1], argv[2]);
    std::fflush(stdout);
    // Messages to the server may still be queued in the middleman; the process ends with the
    // test anyway, so do not wait for CAF's orderly shutdown.
    std::_Exit(code);
  } catch (const std::exception& e) {
    std::cerr << "attack_client: " << e.what() << "\n";
    return 1;
  }
}
