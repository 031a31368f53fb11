// The network's floor under a synchronous step: plain blocking TCP over 127.0.0.1, no actors.
//
// One server process and --clients client processes. In every round each client writes one
// length-prefixed message of --up bytes and blocks until it has read one of --down bytes; the
// server reads one message from every client, then writes one to every client. That is the
// message pattern of a dsq step without the computation, so its time per round is the least a
// step across processes can take on this machine. With one client it is a TCP ping-pong, and a
// round is one round trip.
//
// Sockets use TCP_NODELAY: the floor is what the kernel can do, not what Nagle adds.
// Prints one line: `raw_tcp clients=N up=B down=B rounds=K us_per_round=X cpu_us_per_round=Y
// wakeups_per_round=W` (CPU and voluntary context switches summed over all the processes).
//
// usage: raw_tcp_floor [--clients=N] [--up=BYTES] [--down=BYTES] [--rounds=K]

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "raw_tcp_floor: error: {}: {}\n", what, std::strerror(errno));
  std::_Exit(1);
}

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n <= 0)
      die("write");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::read(fd, data, size);
    if (n <= 0)
      die("read");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

/// One message: a 4-byte length, then the payload (as dsq's messages carry their size).
void send_message(int fd, std::vector<char>& buffer) {
  auto size = static_cast<std::uint32_t>(buffer.size() - 4);
  std::memcpy(buffer.data(), &size, 4);
  write_all(fd, buffer.data(), buffer.size());
}

void receive_message(int fd, std::vector<char>& buffer) {
  std::uint32_t size = 0;
  read_all(fd, reinterpret_cast<char*>(&size), 4);
  buffer.resize(size);
  read_all(fd, buffer.data(), size);
}

void no_delay(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

[[noreturn]] void run_client(std::uint16_t port, std::size_t up, long rounds) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  alarm(120); // never outlive a broken run
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die("connect");
  no_delay(fd);
  std::vector<char> out(up + 4, 1), in;
  for (long r = 0; r < rounds; ++r) {
    send_message(fd, out);
    receive_message(fd, in);
  }
  std::_Exit(0);
}

double cpu_us(const rusage& u) {
  return 1e6 * static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

long option(int argc, char** argv, const char* name, long fallback) {
  std::string prefix = std::string{"--"} + name + "=";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
      return std::atol(argv[i] + prefix.size());
  return fallback;
}

} // namespace

int main(int argc, char** argv) {
  const long clients = option(argc, argv, "clients", 1);
  const auto up = static_cast<std::size_t>(option(argc, argv, "up", 64));
  const auto down = static_cast<std::size_t>(option(argc, argv, "down", 64));
  const long rounds = option(argc, argv, "rounds", 5000);
  const long warmup = std::max(10L, rounds / 10);
  if (clients < 1 || rounds < 1) {
    fmt::print(stderr, "raw_tcp_floor: error: --clients and --rounds must be positive\n");
    return 2;
  }
  alarm(120);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); // 127.0.0.1 only
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener, 64) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len))
    die("listen on 127.0.0.1");
  const auto port = ntohs(addr.sin_port);
  std::vector<pid_t> children;
  for (long i = 0; i < clients; ++i) {
    pid_t pid = fork();
    if (pid < 0)
      die("fork");
    if (pid == 0)
      run_client(port, up, warmup + rounds);
    children.push_back(pid);
  }
  std::vector<int> peers;
  for (long i = 0; i < clients; ++i) {
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0)
      die("accept");
    no_delay(fd);
    peers.push_back(fd);
  }
  std::vector<char> in, out(down + 4, 2);
  auto round = [&] {
    for (int fd : peers) // every push must arrive before the update leaves, as in dsq
      receive_message(fd, in);
    for (int fd : peers)
      send_message(fd, out);
  };
  for (long r = 0; r < warmup; ++r)
    round();
  auto start = clock_type::now();
  for (long r = 0; r < rounds; ++r)
    round();
  double wall_us = std::chrono::duration<double, std::micro>(clock_type::now() - start).count();
  double cpu = 0, wakeups = 0;
  for (pid_t pid : children) {
    int status = 0;
    rusage u{};
    if (wait4(pid, &status, 0, &u) == pid) {
      cpu += cpu_us(u);
      wakeups += static_cast<double>(u.ru_nvcsw);
    }
  }
  rusage self{};
  getrusage(RUSAGE_SELF, &self);
  cpu += cpu_us(self);
  wakeups += static_cast<double>(self.ru_nvcsw);
  // CPU and wake-ups cover the warm-up rounds too (and the set-up, which is tiny).
  const auto all_rounds = static_cast<double>(warmup + rounds);
  fmt::print("raw_tcp clients={} up={} down={} rounds={} us_per_round={:.2f} "
             "cpu_us_per_round={:.2f} wakeups_per_round={:.2f}\n",
             clients, up, down, rounds, wall_us / static_cast<double>(rounds), cpu / all_rounds,
             wakeups / all_rounds);
  return 0;
}
