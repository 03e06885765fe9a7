#include "fault.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "checks.hpp"
#include "common/net.hpp"
#include "proc.hpp"

namespace sc::ftest {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

}  // namespace

void check_serving(const Server& s) {
  Client c(s);
  check_alive(c);
}

void check_alive(Client& c) {
  const itest::OwnedFrame f = c.call(Type::Time);
  itest::check_ok(f, Type::Time);
}

long thread_baseline(const Server& s) {
  long with_one = 0;
  {
    Client c(s);
    with_one = proc_threads(s.pid()).value_or(0);
    itest::check_ok(c.call(Type::Bye), Type::Bye);
    CHECK(c.wait_closed());
  }
  return wait_threads_at_most(s.pid(), with_one - 1, itest::kWait);
}

int connect_raw(const std::string& host, std::uint16_t port, Ms bound) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) fail("not an IPv4 address: " + host);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail("socket: " + std::string(std::strerror(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (poll(&p, 1, static_cast<int>(bound.count())) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
    close_with_rst(fd);
    return -1;
  }
  net::set_nonblocking(fd, false);
  return fd;
}

void arm_rst(int fd) {
  const linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void close_with_rst(int fd) {
  arm_rst(fd);
  close(fd);
}

bool listed(Client& observer, std::uint32_t who) {
  for (const Entry& e : itest::as_list(observer.call(Type::List))) {
    if (e.id == who) return true;
  }
  return false;
}

void sleep_pinging(Client& c, Ms total) {
  const auto end = Clock::now() + total;
  while (Clock::now() < end) {
    itest::check_ok(c.call(Type::Ping), Type::Ping);
    std::this_thread::sleep_for(std::min(Ms(500), std::chrono::duration_cast<Ms>(end - Clock::now())));
  }
}

std::optional<double> wait_unlisted(Client& observer, std::uint32_t who, Ms bound) {
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < bound) {
    if (!listed(observer, who)) return itest::seconds_since(t0);
    itest::check_ok(observer.call(Type::Ping), Type::Ping);
    std::this_thread::sleep_for(Ms(100));
  }
  return std::nullopt;
}

void expect_vanished(Client& observer, std::uint32_t who, std::uint32_t send_req, Clock::time_point t0,
                     int idle_s, const char* what) {
  const bool gone = wait_unlisted(observer, who, Ms(1000 * (idle_s + 8))).has_value();
  const double took = itest::seconds_since(t0);
  REQUIRE(gone);
  MESSAGE(std::string(what), ": left LIST ", took, " s after it fell silent (idle timeout ", idle_s, " s)");
  std::printf("dead peer (%s): left LIST after %.2f s, idle timeout %d s\n", what, took, idle_s);
  CHECK(took <= idle_s + 1 + 2.0);
  const std::optional<itest::OwnedFrame> r = observer.try_response(send_req, itest::kWait);
  REQUIRE(r.has_value());
  itest::check_error(*r, Type::Send, Status::NotDelivered);
}

// ---------------------------------------------------------------------------
// Peer

std::string fault_peer_path() {
  const char* p = std::getenv("FAULT_PEER");
  if (!p || !*p) fail("FAULT_PEER is not set: run through meson test");
  return p;
}

std::vector<std::string> peer_argv(const std::string& mode, const Server& s) {
  return {fault_peer_path(), mode, s.host(), std::to_string(s.port())};
}

Peer::Peer(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) fail("pipe2: " + std::string(std::strerror(errno)));
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) fail("fork: " + std::string(std::strerror(errno)));
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(p[1], 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  out_ = p[0];
}

Peer::~Peer() {
  kill_and_reap();
  if (out_ >= 0) close(out_);
}

void Peer::signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

void Peer::kill_and_reap() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int st = 0;
  while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string Peer::read_line(Ms bound) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    const auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, ms_left(deadline)) <= 0) fail("fault-peer printed no line within the bound");
    char chunk[256];
    const ssize_t n = read(out_, chunk, sizeof chunk);
    if (n <= 0) fail("fault-peer ended without printing a line");
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::uint32_t Peer::read_id(Ms bound) {
  const std::string line = read_line(bound);
  if (line.rfind("id ", 0) != 0) fail("fault-peer said '" + line + "', not its id");
  return static_cast<std::uint32_t>(std::stoul(line.substr(3)));
}

}  // namespace sc::ftest
