// Every accepted socket carries SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT and
// TCP_USER_TIMEOUT, so that a peer whose host vanished is noticed in about
// the idle timeout.  Two independent readings of the server's socket:
// its options through a copy of its fd (pidfd_getfd), and the keepalive
// timer that `ss -o` shows.  Alone in its binary because it skips (exit 77,
// see tests/lib/skip.hpp) when neither reading is possible here.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "../lib/skip.hpp"
#include "fault.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

constexpr int kIdle = 12;

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
// child, so ptrace access is allowed).  nullopt when that is not possible;
// `why` then says what failed.
std::optional<SockOpts> server_side_opts(pid_t server, std::uint16_t client_port, std::string& why) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, server, 0));
  if (pidfd < 0) {
    why = std::string("pidfd_open: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::optional<SockOpts> found;
  why = "no socket of the server has our client port as its peer";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(server) + "/fd", ec)) {
    const int target = std::stoi(e.path().filename().string());
    const int fd = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
    if (fd < 0) {
      why = std::string("pidfd_getfd: ") + std::strerror(errno);
      continue;
    }
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

// `ss -tnoH state established` lines about the connection from this client
// port; nullopt when ss itself did not run (not installed, no netlink):
// `why` then says so.  An empty string from an ss that ran is an answer.
std::optional<std::string> ss_lines(std::uint16_t server_port, std::uint16_t client_port, std::string& why) {
  const std::string cmd = "ss -tnoH state established '( sport = :" + std::to_string(server_port) +
                          " and dport = :" + std::to_string(client_port) + " )' 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    why = std::string("popen: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    why = "ss did not run (" + (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "status " + std::to_string(status)) +
          "): " + out;
    return std::nullopt;
  }
  return out;
}

void check_opts(const SockOpts& o) {
  INFO("keepalive ", o.keepalive, " idle ", o.idle, " intvl ", o.interval, " cnt ", o.count,
       " user_timeout ", o.user_timeout_ms, " ms");
  MESSAGE("server socket: SO_KEEPALIVE ", o.keepalive, ", TCP_KEEPIDLE ", o.idle,
          " s, TCP_KEEPINTVL ", o.interval, " s, TCP_KEEPCNT ", o.count,
          ", TCP_USER_TIMEOUT ", o.user_timeout_ms, " ms (idle timeout ", kIdle, " s)");
  CHECK(o.keepalive == 1);
  // A vanished peer is noticed in about the idle timeout, not in the
  // kernel's default two hours and eleven minutes.
  CHECK(o.idle >= 1);
  CHECK(o.interval >= 1);
  CHECK(o.count >= 1);
  CHECK(o.idle + o.interval * o.count <= 2 * kIdle);
  CHECK(o.user_timeout_ms > 0);
  CHECK(o.user_timeout_ms <= 2 * kIdle * 1000);
}

}  // namespace

TEST_CASE("accepted sockets have SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT and TCP_USER_TIMEOUT") {
  Server s{"--heartbeat", "2", "--idle-timeout", std::to_string(kIdle)};
  Client c(s);
  const std::uint16_t client_port = port_of(c.fd(), false);
  REQUIRE(client_port != 0);
  std::string no_fd, no_ss;
  const std::optional<SockOpts> o = server_side_opts(s.pid(), client_port, no_fd);
  const std::optional<std::string> ss = ss_lines(s.port(), client_port, no_ss);
  if (!o && !ss) {
    sc::testing::skip("cannot read the server's socket options: " + no_fd + "; " + no_ss);
    return;
  }
  if (o) {
    check_opts(*o);
  } else {
    MESSAGE("options not read (", no_fd, "): checked through ss only");
  }
  if (ss) {
    // ss ran, and the connection is established: it must be listed, with
    // the keepalive timer running.
    INFO("ss: ", *ss);
    CHECK(!ss->empty());
    CHECK(ss->find("timer:(keepalive") != std::string::npos);
  } else {
    MESSAGE("ss not checked (", no_ss, "): checked through the socket options only");
  }
}
