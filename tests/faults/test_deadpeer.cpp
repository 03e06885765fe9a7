// Dead peers: a client that stops answering without FIN or RST must leave
// LIST within the idle timeout plus a second, and a SEND to it must end
// NOT_DELIVERED, never OK.  Here the client is a real process that is
// SIGSTOPped (its kernel still ACKs TCP, the program says nothing).  Also:
// every accepted socket carries keepalive and TCP_USER_TIMEOUT.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "checks.hpp"
#include "fault.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

constexpr int kIdle = 3;

struct SockOpts {
  int keepalive = -1, idle = -1, interval = -1, count = -1, user_timeout_ms = -1;
};

int get_int(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

std::uint16_t port_of(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                     : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

// The options of the server's socket for our client connection, read from
// a copy of the server's fd (pidfd_getfd, Linux 5.6+; the server is our
// child, so ptrace access is allowed).  nullopt when that is not possible.
std::optional<SockOpts> server_side_opts(pid_t server, std::uint16_t client_port) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, server, 0));
  if (pidfd < 0) return std::nullopt;
  std::optional<SockOpts> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(server) + "/fd", ec)) {
    const int target = std::stoi(e.path().filename().string());
    const int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
    if (fd < 0) continue;
    if (port_of(fd, true) == client_port) {
      found = SockOpts{get_int(fd, SOL_SOCKET, SO_KEEPALIVE), get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE),
                       get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), get_int(fd, IPPROTO_TCP, TCP_KEEPCNT),
                       get_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT)};
    }
    close(fd);
    if (found) break;
  }
  close(pidfd);
  return found;
}

// `ss -tnoH state established` lines about a connection from this port.
std::string ss_line(std::uint16_t server_port, std::uint16_t client_port) {
  const std::string cmd = "ss -tnoH state established '( sport = :" + std::to_string(server_port) +
                          " and dport = :" + std::to_string(client_port) + " )' 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    pclose(p);
  }
  return out;
}

}  // namespace

TEST_CASE("a frozen client (SIGSTOP) leaves LIST within the idle timeout + 1 s; a SEND to it is NOT_DELIVERED") {
  Server s{"--heartbeat", "1", "--idle-timeout", "3", "--delivery-timeout", "30"};
  Client observer(s);
  Peer frozen(peer_argv("live", s));
  const std::uint32_t id = frozen.read_id();
  CHECK(listed(observer, id));
  // Alive while it runs: it PINGs every second, past the idle timeout.
  sleep_pinging(observer, Ms(1000 * kIdle + 500));
  REQUIRE(listed(observer, id));
  // While it runs it ACKs, so the SEND is OK.
  {
    const OwnedFrame r = observer.call(Type::Send, view(send_payload(id, "still there?")));
    check_ok(r, Type::Send);
  }

  frozen.signal(SIGSTOP);
  const auto t0 = Clock::now();
  const std::uint32_t req = observer.request(Type::Send, view(send_payload(id, "are you there?")));
  expect_vanished(observer, id, req, t0, kIdle, "SIGSTOP");
  frozen.signal(SIGCONT);
  frozen.kill_and_reap();
  check_serving(s);
}

TEST_CASE("accepted sockets have SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT and TCP_USER_TIMEOUT") {
  Server s{"--heartbeat", "2", "--idle-timeout", "12"};
  Client c(s);
  const std::uint16_t client_port = port_of(c.fd(), false);
  const std::optional<SockOpts> o = server_side_opts(s.pid(), client_port);
  if (!o) {
    MESSAGE("pidfd_getfd unavailable: checking with ss only");
  } else {
    INFO("keepalive ", o->keepalive, " idle ", o->idle, " intvl ", o->interval, " cnt ", o->count,
         " user_timeout ", o->user_timeout_ms, " ms");
    MESSAGE("server socket: SO_KEEPALIVE ", o->keepalive, ", TCP_KEEPIDLE ", o->idle,
            " s, TCP_KEEPINTVL ", o->interval, " s, TCP_KEEPCNT ", o->count,
            ", TCP_USER_TIMEOUT ", o->user_timeout_ms, " ms (idle timeout 12 s)");
    CHECK(o->keepalive == 1);
    // A vanished peer is noticed in about the idle timeout, not in the
    // kernel's default two hours and eleven minutes.
    CHECK(o->idle >= 1);
    CHECK(o->interval >= 1);
    CHECK(o->count >= 1);
    CHECK(o->idle + o->interval * o->count <= 2 * 12);
    CHECK(o->user_timeout_ms > 0);
    CHECK(o->user_timeout_ms <= 2 * 12 * 1000);
  }
  const std::string line = ss_line(s.port(), client_port);
  INFO("ss: ", line);
  if (line.empty()) {
    MESSAGE("ss shows nothing; skipping its check");
  } else {
    CHECK(line.find("timer:(keepalive") != std::string::npos);
  }
}
