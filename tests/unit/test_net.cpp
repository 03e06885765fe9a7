// Socket helpers against loopback only (127.0.0.1 and ::1), on ports the
// kernel picks.  Every fd is closed by a guard; every wait is bounded.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../lib/skip.hpp"
#include "common/codec.hpp"
#include "common/net.hpp"

namespace sc::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr int kWaitMs = 5000;

// Closes the fd when the test leaves its scope, failing or not.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset(int f = -1) {
    if (fd >= 0) close(fd);
    fd = f;
  }
  operator int() const { return fd; }
};

bool has_flag(int fd, int fd_flag, int fl_flag) {
  if (fd_flag) return (fcntl(fd, F_GETFD) & fd_flag) != 0;
  return (fcntl(fd, F_GETFL) & fl_flag) != 0;
}

bool wait_readable(int fd, int timeout_ms = kWaitMs) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

int int_opt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  REQUIRE(getsockopt(fd, level, name, &v, &len) == 0);
  return v;
}

// A listener on host, port 0, and its port.
struct Listener {
  std::string err;  // declared before fd: listen_tcp writes it while fd is built
  Fd fd;
  std::uint16_t port = 0;
  explicit Listener(const std::string& host) : fd(net::listen_tcp(host, 0, 16, err)) {
    if (fd >= 0) port = net::local_addr(fd).port;
  }
};

// Waits for and accepts one connection.
net::AcceptResult accept_one(int lfd) {
  REQUIRE(wait_readable(lfd));
  return net::accept_client(lfd);
}

// A connected pair: client (blocking, from connect_tcp) and server side
// (non-blocking, from accept_client).  rcvbuf > 0 sets the listener's
// SO_RCVBUF first, which the accepted socket inherits.
struct Pair {
  Listener l;
  Fd client, server;
  net::AcceptResult accepted{};
  explicit Pair(const std::string& listen_host = "127.0.0.1",
                const std::string& connect_host = "127.0.0.1", int rcvbuf = 0)
      : l(listen_host) {
    REQUIRE_MESSAGE(l.fd >= 0, l.err);
    if (rcvbuf > 0) REQUIRE(setsockopt(l.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    std::string err;
    client.reset(net::connect_tcp(connect_host, std::to_string(l.port), kWaitMs, err));
    REQUIRE_MESSAGE(client >= 0, err);
    accepted = accept_one(l.fd);
    REQUIRE(accepted.status == net::AcceptStatus::Ok);
    server.reset(accepted.fd);
  }
};

// Fills the socket's send path (the peer never reads) until WouldBlock;
// returns the bytes the kernel took.  Bounded by count.
std::size_t fill_until_would_block(int fd, bool& saw_would_block) {
  const std::vector<char> chunk(64 * 1024, 'x');
  std::size_t total = 0;
  saw_would_block = false;
  for (int i = 0; i < 4096 && !saw_would_block; ++i) {
    const net::IoResult r = net::send_some(fd, chunk.data(), chunk.size());
    REQUIRE(r.status != net::IoStatus::Error);
    if (r.status == net::IoStatus::WouldBlock) saw_would_block = true;
    total += r.bytes;
  }
  return total;
}

// Shrinks both ends' buffers so that a non-reading peer fills them fast.
void shrink_buffers(int sender, int receiver) {
  const int small = 4096;
  REQUIRE(setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  REQUIRE(setsockopt(receiver, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
}

}  // namespace

TEST_CASE("listen_tcp on 127.0.0.1:0: non-blocking, CLOEXEC, SO_REUSEADDR") {
  Listener l("127.0.0.1");
  REQUIRE_MESSAGE(l.fd >= 0, l.err);
  CHECK(l.port != 0);
  CHECK(has_flag(l.fd, FD_CLOEXEC, 0));
  CHECK(has_flag(l.fd, 0, O_NONBLOCK));
  CHECK(int_opt(l.fd, SOL_SOCKET, SO_REUSEADDR) != 0);
  const Addr a = net::local_addr(l.fd);
  CHECK(format_addr(a) == "127.0.0.1:" + std::to_string(l.port));
}

TEST_CASE("accept_client on an empty queue is WouldBlock") {
  Listener l("127.0.0.1");
  REQUIRE(l.fd >= 0);
  const net::AcceptResult r = net::accept_client(l.fd);
  CHECK(r.status == net::AcceptStatus::WouldBlock);
  CHECK(r.fd == -1);
}

TEST_CASE("a port in use is EADDRINUSE with a message naming it") {
  Listener first("127.0.0.1");
  REQUIRE(first.fd >= 0);
  std::string err;
  errno = 0;
  const int fd = net::listen_tcp("127.0.0.1", first.port, 16, err);
  const int e = errno;
  Fd guard(fd);
  CHECK(fd == -1);
  CHECK(e == EADDRINUSE);
  CHECK(err.find("127.0.0.1:" + std::to_string(first.port)) != std::string::npos);
  CHECK(err.find(std::strerror(EADDRINUSE)) != std::string::npos);
}

TEST_CASE("connect, accept, addresses, flags") {
  Pair p;
  CHECK(has_flag(p.server, FD_CLOEXEC, 0));
  CHECK(has_flag(p.server, 0, O_NONBLOCK));
  CHECK(has_flag(p.client, FD_CLOEXEC, 0));
  CHECK_FALSE(has_flag(p.client, 0, O_NONBLOCK));  // connect_tcp returns it blocking
  CHECK(p.accepted.peer.family == 4);
  CHECK(p.accepted.peer == net::peer_addr(p.server));
  CHECK(p.accepted.peer == net::local_addr(p.client));
  CHECK(net::peer_addr(p.client) == net::local_addr(p.server));
  CHECK(format_ip(p.accepted.peer) == "127.0.0.1");
}

TEST_CASE("send_some and recv_some move bytes; recv on an idle socket is WouldBlock") {
  Pair p;
  char buf[64];
  net::IoResult r = net::recv_some(p.server, buf, sizeof buf);
  CHECK(r.status == net::IoStatus::WouldBlock);

  r = net::send_some(p.client, "hello", 5);
  CHECK(r.status == net::IoStatus::Ok);
  CHECK(r.bytes == 5);
  REQUIRE(wait_readable(p.server));
  r = net::recv_some(p.server, buf, sizeof buf);
  REQUIRE(r.status == net::IoStatus::Ok);
  CHECK(std::string(buf, r.bytes) == "hello");

  CHECK(net::send_all(p.server, "world", 5, kWaitMs));
  r = net::recv_some(p.client, buf, sizeof buf);  // blocking side
  REQUIRE(r.status == net::IoStatus::Ok);
  CHECK(std::string(buf, r.bytes) == "world");
}

TEST_CASE("the peer closing is Closed, not an error") {
  Pair p;
  p.client.reset();
  REQUIRE(wait_readable(p.server));
  char buf[16];
  const net::IoResult r = net::recv_some(p.server, buf, sizeof buf);
  CHECK(r.status == net::IoStatus::Closed);
  CHECK(r.bytes == 0);
}

TEST_CASE("sending to a closed peer is EPIPE or ECONNRESET, never SIGPIPE") {
  Pair p;
  p.client.reset();
  REQUIRE(wait_readable(p.server));
  net::IoResult r{net::IoStatus::Ok, 0, 0};
  // The first send may still be accepted; the RST makes a later one fail.
  for (int i = 0; i < 100 && r.status != net::IoStatus::Error; ++i) {
    r = net::send_some(p.server, "x", 1);
    if (r.status != net::IoStatus::Error) std::this_thread::sleep_for(10ms);
  }
  CHECK(r.status == net::IoStatus::Error);
  CHECK((r.err == EPIPE || r.err == ECONNRESET));
}

TEST_CASE("a non-reading peer: short sends, then WouldBlock") {
  Pair p("127.0.0.1", "127.0.0.1", 4096);
  REQUIRE(net::set_nonblocking(p.client, true));
  shrink_buffers(p.client, p.server);

  const std::vector<char> big(1 << 20, 'y');
  const net::IoResult first = net::send_some(p.client, big.data(), big.size());
  REQUIRE(first.status == net::IoStatus::Ok);
  CHECK(first.bytes > 0);
  CHECK(first.bytes < big.size());  // the kernel took only part of it

  bool would_block = false;
  fill_until_would_block(p.client, would_block);
  CHECK(would_block);
}

TEST_CASE("send_all gives up cleanly at its timeout") {
  Pair p;
  REQUIRE(net::set_nonblocking(p.client, true));
  shrink_buffers(p.client, p.server);
  bool would_block = false;
  fill_until_would_block(p.client, would_block);
  REQUIRE(would_block);

  const std::vector<char> more(256 * 1024, 'z');
  const auto t0 = Clock::now();
  errno = 0;
  CHECK_FALSE(net::send_all(p.client, more.data(), more.size(), 200));
  CHECK(errno == ETIMEDOUT);
  const auto took = Clock::now() - t0;
  CHECK(took >= 150ms);
  CHECK(took < 5s);
}

TEST_CASE("connect refused names host:port and the reason") {
  std::uint16_t port;
  {
    Listener l("127.0.0.1");  // a port that was free a moment ago
    REQUIRE(l.fd >= 0);
    port = l.port;
  }
  std::string err;
  errno = 0;
  const int fd = net::connect_tcp("127.0.0.1", std::to_string(port), kWaitMs, err);
  Fd guard(fd);
  CHECK(fd == -1);
  CHECK(errno == ECONNREFUSED);
  CHECK(err == "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(ECONNREFUSED));
}

// In the doctest suite "ipv6", which meson runs as a test of its own
// (unit-net-ipv6): it skips (exit 77) without ::1.
TEST_CASE("IPv6 loopback: peer reported as family 6" * doctest::test_suite("ipv6")) {
  if (const Listener probe("::1"); probe.fd < 0) {
    sc::testing::skip("no IPv6 loopback here (" + probe.err + ")");
    return;
  }
  Pair p("::1", "::1");
  CHECK(p.accepted.peer.family == 6);
  CHECK(format_ip(p.accepted.peer) == "::1");
  CHECK(net::peer_addr(p.server) == p.accepted.peer);
  CHECK(format_addr(net::local_addr(p.server)) == "[::1]:" + std::to_string(p.l.port));
}

TEST_CASE("any-address listener: an IPv4 peer is reported as family 4") {
  Pair p("", "127.0.0.1");
  CHECK(p.accepted.peer.family == 4);
  CHECK(format_ip(p.accepted.peer) == "127.0.0.1");
  CHECK(p.accepted.peer == net::local_addr(p.client));
}

TEST_CASE("addr_from_sockaddr: IPv4, IPv6 and IPv4-mapped IPv6") {
  sockaddr_storage ss{};
  sockaddr_in6 s6{};
  s6.sin6_family = AF_INET6;
  s6.sin6_port = htons(4242);
  REQUIRE(inet_pton(AF_INET6, "::ffff:10.1.2.3", &s6.sin6_addr) == 1);
  std::memcpy(&ss, &s6, sizeof s6);
  Addr a = net::addr_from_sockaddr(ss);
  CHECK(a.family == 4);
  CHECK(format_addr(a) == "10.1.2.3:4242");
  CHECK(a.bytes[4] == 0);  // nothing of the mapped prefix left behind

  REQUIRE(inet_pton(AF_INET6, "2001:db8::5", &s6.sin6_addr) == 1);
  std::memcpy(&ss, &s6, sizeof s6);
  CHECK(format_addr(net::addr_from_sockaddr(ss)) == "[2001:db8::5]:4242");

  sockaddr_in s4{};
  s4.sin_family = AF_INET;
  s4.sin_port = htons(80);
  REQUIRE(inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr) == 1);
  ss = {};
  std::memcpy(&ss, &s4, sizeof s4);
  CHECK(format_addr(net::addr_from_sockaddr(ss)) == "192.0.2.7:80");
}

TEST_CASE("accept with no fds left is Exhausted, and the connection waits") {
  Listener l("127.0.0.1");
  REQUIRE(l.fd >= 0);
  std::string err;
  Fd client(net::connect_tcp("127.0.0.1", std::to_string(l.port), kWaitMs, err));
  REQUIRE_MESSAGE(client >= 0, err);
  REQUIRE(wait_readable(l.fd));

  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(lowest_free >= 0);
  close(lowest_free);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  const net::AcceptResult r = net::accept_client(l.fd);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);

  CHECK(r.status == net::AcceptStatus::Exhausted);
  CHECK(r.err == EMFILE);
  const net::AcceptResult again = net::accept_client(l.fd);
  Fd server(again.fd);
  CHECK(again.status == net::AcceptStatus::Ok);
}

TEST_CASE("socket options: nodelay, nonblocking toggle, keepalive split") {
  Pair p;
  REQUIRE(net::set_nodelay(p.client));
  CHECK(int_opt(p.client, IPPROTO_TCP, TCP_NODELAY) != 0);

  REQUIRE(net::set_nonblocking(p.client, true));
  CHECK(has_flag(p.client, 0, O_NONBLOCK));
  REQUIRE(net::set_nonblocking(p.client, false));
  CHECK_FALSE(has_flag(p.client, 0, O_NONBLOCK));

  REQUIRE(net::set_keepalive(p.server, 30));
  CHECK(int_opt(p.server, SOL_SOCKET, SO_KEEPALIVE) != 0);
  CHECK(int_opt(p.server, IPPROTO_TCP, TCP_KEEPIDLE) == 15);
  CHECK(int_opt(p.server, IPPROTO_TCP, TCP_KEEPINTVL) == 5);
  CHECK(int_opt(p.server, IPPROTO_TCP, TCP_KEEPCNT) == 3);
  CHECK(int_opt(p.server, IPPROTO_TCP, TCP_USER_TIMEOUT) == 30000);

  REQUIRE(net::set_keepalive(p.client, 1));
  CHECK(int_opt(p.client, IPPROTO_TCP, TCP_KEEPIDLE) == 1);
  CHECK(int_opt(p.client, IPPROTO_TCP, TCP_KEEPINTVL) == 1);
  CHECK(int_opt(p.client, IPPROTO_TCP, TCP_USER_TIMEOUT) == 1000);
}

TEST_CASE("wake fd: CLOEXEC, non-blocking, signal makes it readable, drain empties it") {
  Fd w(net::make_wake_fd());
  REQUIRE(w >= 0);
  CHECK(has_flag(w, FD_CLOEXEC, 0));
  CHECK(has_flag(w, 0, O_NONBLOCK));
  CHECK_FALSE(wait_readable(w, 0));
  net::signal_wake(w);
  net::signal_wake(w);
  CHECK(wait_readable(w, 0));
  net::drain_wake(w);
  CHECK_FALSE(wait_readable(w, 0));
  net::drain_wake(w);  // draining an empty one does not block
  CHECK_FALSE(wait_readable(w, 0));
}

TEST_CASE("close_keep_errno keeps errno") {
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  errno = ETIMEDOUT;
  net::close_keep_errno(fd);
  CHECK(errno == ETIMEDOUT);
  CHECK(fcntl(fd, F_GETFD) == -1);  // really closed
}

}  // namespace sc::test
