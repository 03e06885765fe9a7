// Socket helpers over plain fds.  The errno policy described in net.hpp is
// implemented here and nowhere else.
#include "common/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace sc::net {

namespace {

using Clock = std::chrono::steady_clock;

// "host:port", with brackets around an IPv6 literal; "*:port" for any address.
std::string endpoint(const std::string& host, const std::string& port) {
  if (host.empty()) return "*:" + port;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

// Sets err to "<what> <endpoint>: <strerror(e)>" and leaves errno == e.
int fail(std::string& err, const char* what, const std::string& where, int e) {
  err = std::string(what) + " " + where + ": " + std::strerror(e);
  errno = e;
  return -1;
}

bool set_int_opt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0;
}

// Milliseconds left until `deadline` (never negative), or -1 for no limit.
int remaining_ms(bool limited, Clock::time_point deadline) {
  if (!limited) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Waits for `events` on fd; EINTR is retried against the same deadline.
// Returns >0 when ready, 0 on timeout, -1 on error (errno set).
int wait_for(int fd, short events, int timeout_ms) {
  const bool limited = timeout_ms >= 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
  for (;;) {
    pollfd pfd{fd, events, 0};
    const int n = poll(&pfd, 1, remaining_ms(limited, deadline));
    if (n >= 0 || errno != EINTR) return n;
  }
}

// socket() + options + bind() + listen() for one address; -1 with errno on
// failure, the fd closed.
int listen_on(const sockaddr* sa, socklen_t len, int backlog, bool dual_stack) {
  const int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  // SO_REUSEADDR: a restarted server must be able to bind its port while
  // connections of the previous instance still sit in TIME_WAIT.
  bool ok = set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (ok && dual_stack) ok = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  ok = ok && bind(fd, sa, len) == 0 && listen(fd, backlog) == 0;
  if (ok) return fd;
  close_keep_errno(fd);
  return -1;
}

// Any address: IPv6 accepting IPv4 too, else IPv4 alone where the host has
// no IPv6.
int listen_any(std::uint16_t port, int backlog) {
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_any;
  a6.sin6_port = htons(port);
  const int fd = listen_on(reinterpret_cast<const sockaddr*>(&a6), sizeof a6, backlog, true);
  if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EPROTONOSUPPORT && errno != EADDRNOTAVAIL))
    return fd;
  sockaddr_in a4{};
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_ANY);
  a4.sin_port = htons(port);
  return listen_on(reinterpret_cast<const sockaddr*>(&a4), sizeof a4, backlog, false);
}

// Non-blocking connect to one address, waiting at most timeout_ms; returns
// the (still non-blocking) fd, or -1 with errno.
int connect_one(const addrinfo* ai, int timeout_ms) {
  const int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return -1;
  // EINTR: the connection attempt goes on in the background, as EINPROGRESS.
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS && errno != EINTR) {
    close_keep_errno(fd);
    return -1;
  }
  const int ready = wait_for(fd, POLLOUT, timeout_ms);
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (ready == 0) {
    soerr = ETIMEDOUT;
  } else if (ready < 0) {
    soerr = errno;
  } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
    soerr = errno;
  }
  if (soerr == 0) return fd;
  close(fd);
  errno = soerr;
  return -1;
}

// A per-connection failure of accept4(): that connection is lost, the next
// one may be fine.  Linux also passes pending network errors up here.
bool skippable_accept_error(int e) {
  switch (e) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

Addr addr_of(const sockaddr_storage& ss, socklen_t len, int rc) {
  if (rc != 0 || len == 0) return Addr{};
  return addr_from_sockaddr(ss);
}

}  // namespace

int listen_tcp(const std::string& host, std::uint16_t port, int backlog, std::string& err) {
  const std::string port_s = std::to_string(port);
  if (host.empty()) {
    const int fd = listen_any(port, backlog);
    return fd >= 0 ? fd : fail(err, "listen on", endpoint(host, port_s), errno);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res); rc != 0) {
    err = "listen on " + endpoint(host, port_s) + ": " + gai_strerror(rc);
    errno = EINVAL;
    return -1;
  }
  int fd = -1;
  int e = EADDRNOTAVAIL;
  for (const addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = listen_on(ai->ai_addr, ai->ai_addrlen, backlog, false);
    if (fd < 0) e = errno;
  }
  freeaddrinfo(res);
  return fd >= 0 ? fd : fail(err, "listen on", endpoint(host, port_s), e);
}

int connect_tcp(const std::string& host, const std::string& port, int timeout_ms,
                std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    err = "resolve " + endpoint(host, port) + ": " +
          (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    errno = EHOSTUNREACH;
    return -1;
  }
  int fd = -1;
  int e = EHOSTUNREACH;
  for (const addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = connect_one(ai, timeout_ms);
    if (fd < 0) e = errno;
  }
  freeaddrinfo(res);
  if (fd >= 0 && !set_nonblocking(fd, false)) {
    e = errno;
    close(fd);
    fd = -1;
  }
  return fd >= 0 ? fd : fail(err, "connect to", endpoint(host, port), e);
}

IoResult recv_some(int fd, void* buf, std::size_t len) {
  if (len == 0) return {IoStatus::Ok, 0, 0};  // recv() would return 0: not EOF
  for (;;) {
    const ssize_t n = recv(fd, buf, len, 0);
    if (n > 0) return {IoStatus::Ok, static_cast<std::size_t>(n), 0};
    if (n == 0) return {IoStatus::Closed, 0, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoStatus::WouldBlock, 0, errno};
    return {IoStatus::Error, 0, errno};
  }
}

IoResult send_some(int fd, const void* buf, std::size_t len) {
  if (len == 0) return {IoStatus::Ok, 0, 0};
  for (;;) {
    const ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) return {IoStatus::Ok, static_cast<std::size_t>(n), 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoStatus::WouldBlock, 0, errno};
    return {IoStatus::Error, 0, errno};
  }
}

bool send_all(int fd, const void* buf, std::size_t len, int timeout_ms) {
  const bool limited = timeout_ms >= 0;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
  const auto* p = static_cast<const std::uint8_t*>(buf);
  while (len > 0) {
    const IoResult r = send_some(fd, p, len);
    if (r.status == IoStatus::Ok) {
      p += r.bytes;
      len -= r.bytes;
      continue;
    }
    if (r.status != IoStatus::WouldBlock) {
      errno = r.err;
      return false;
    }
    const int left = remaining_ms(limited, deadline);
    const int ready = left == 0 ? 0 : wait_for(fd, POLLOUT, left);
    if (ready == 0) errno = ETIMEDOUT;
    if (ready <= 0) return false;
  }
  return true;
}

AcceptResult accept_client(int listen_fd) {
  // Bounded: a flood of dying connections must not keep us here forever.
  for (int tries = 0; tries < 64; ++tries) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) return {AcceptStatus::Ok, fd, 0, addr_from_sockaddr(ss)};
    const int e = errno;
    if (skippable_accept_error(e)) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return {AcceptStatus::WouldBlock, -1, e, Addr{}};
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
      return {AcceptStatus::Exhausted, -1, e, Addr{}};
    return {AcceptStatus::Error, -1, e, Addr{}};
  }
  return {AcceptStatus::WouldBlock, -1, EAGAIN, Addr{}};
}

Addr addr_from_sockaddr(const sockaddr_storage& ss) {
  Addr a;
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof sin);
    a.family = 4;
    std::memcpy(a.bytes.data(), &sin.sin_addr, 4);
    a.port = ntohs(sin.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof sin6);
    a.port = ntohs(sin6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
      a.family = 4;
      std::memcpy(a.bytes.data(), sin6.sin6_addr.s6_addr + 12, 4);
    } else {
      a.family = 6;
      std::memcpy(a.bytes.data(), sin6.sin6_addr.s6_addr, 16);
    }
  }
  return a;
}

Addr peer_addr(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return addr_of(ss, len, rc);
}

Addr local_addr(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return addr_of(ss, len, rc);
}

bool set_nonblocking(int fd, bool on) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  const int want = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  return want == flags || fcntl(fd, F_SETFL, want) == 0;
}

bool set_nodelay(int fd) { return set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1); }

bool set_keepalive(int fd, int idle_s) {
  const int idle = std::max(1, idle_s / 2);
  const int interval = std::max(1, idle_s / 6);
  // TCP_USER_TIMEOUT in ms; clamp so that huge idle_s cannot overflow int.
  const int user_timeout_ms = std::min(std::max(idle_s, 1), 2000000) * 1000;
  return set_int_opt(fd, SOL_SOCKET, SO_KEEPALIVE, 1) &&
         set_int_opt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle) &&
         set_int_opt(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval) &&
         set_int_opt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3) &&
         set_int_opt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms);
}

int make_wake_fd() { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void signal_wake(int wake_fd) {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: a wake-up is pending anyway.
  while (write(wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void drain_wake(int wake_fd) {
  std::uint64_t count;
  // One read resets an eventfd counter; EAGAIN means it was already zero.
  while (read(wake_fd, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

void close_keep_errno(int fd) {
  const int e = errno;
  close(fd);
  errno = e;
}

}  // namespace sc::net
