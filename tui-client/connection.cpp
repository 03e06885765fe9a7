#include "connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/net.hpp"

namespace sc::tui {

namespace {

constexpr std::size_t kQueueCapacity = 4096;
constexpr std::size_t kRecvChunk = 64 * 1024;
// How long the receiver sleeps between checks of stopping_ while the queue
// is full; the UI signals space_fd_ long before this in practice.
constexpr int kFullQueueWaitMs = 500;

std::string endpoint_text(const std::string& host, const std::string& port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + port;
}

// Waits for a non-blocking connect() to finish, or for cancel_fd.
// Returns 0, or an errno (ECANCELED when cancel_fd was signalled).
int wait_connected(int fd, int timeout_ms, int cancel_fd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ETIMEDOUT;
    pollfd p[2] = {{fd, POLLOUT, 0}, {cancel_fd, POLLIN, 0}};
    const int n = poll(p, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (p[1].revents != 0) return ECANCELED;
    if (p[0].revents == 0) continue;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) return errno;
    return so_error;
  }
}

// One address: a non-blocking connect() that cancel_fd can cut short.
// Returns a blocking fd, or -1 with errno set.
int connect_one(const addrinfo* ai, int timeout_ms, int cancel_fd) {
  const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return -1;
  int e = 0;
  if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    // EINTR: the connect goes on asynchronously, as with EINPROGRESS.
    e = errno == EINPROGRESS || errno == EINTR ? wait_connected(fd, timeout_ms, cancel_fd) : errno;
  }
  if (e == 0 && !net::set_nonblocking(fd, false)) e = errno;
  if (e == 0) return fd;
  ::close(fd);
  errno = e;
  return -1;
}

}  // namespace

std::unique_ptr<Connection> Connection::start(const std::string& host, const std::string& port,
                                              int timeout_ms, std::string& err) {
  const int wake = net::make_wake_fd();
  const int space = wake >= 0 ? net::make_wake_fd() : -1;
  if (wake < 0 || space < 0) {
    err = std::string("eventfd: ") + std::strerror(errno);
    if (wake >= 0) net::close_keep_errno(wake);
    return nullptr;
  }
  std::unique_ptr<Connection> c(new Connection(wake, space, endpoint_text(host, port)));
  c->receiver_ = std::thread([raw = c.get(), host, port, timeout_ms] { raw->run(host, port, timeout_ms); });
  return c;
}

Connection::Connection(int wake_fd, int space_fd, std::string peer_text)
    : wake_fd_(wake_fd), space_fd_(space_fd), peer_text_(std::move(peer_text)), queue_(kQueueCapacity) {}

Connection::~Connection() {
  close();
  ::close(wake_fd_);
  ::close(space_fd_);
}

void Connection::close() {
  if (!receiver_.joinable()) return;
  stopping_.store(true);
  if (const int fd = fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);  // ends a blocked recv()
  net::signal_wake(space_fd_);  // ends a connect wait or a wait for queue space
  receiver_.join();
  if (const int fd = fd_.exchange(-1); fd >= 0) ::close(fd);
}

bool Connection::take(std::vector<Incoming>& out, std::size_t max) {
  net::drain_wake(wake_fd_);
  std::size_t n = 0;
  for (Incoming* in = queue_.front(); in != nullptr && n < max; in = queue_.front(), ++n) {
    out.push_back(std::move(*in));
    queue_.pop();
  }
  if (n > 0) net::signal_wake(space_fd_);
  return !queue_.empty();
}

// The socket stays blocking for the receiver's recv(); MSG_DONTWAIT makes
// this one send() non-blocking.
WriteResult Connection::write_some(const std::uint8_t* data, std::size_t len) {
  const int fd = fd_.load();
  if (fd < 0) return WriteResult{0, true, "not connected"};
  for (;;) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return WriteResult{static_cast<std::size_t>(n), false, {}};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteResult{};
    return WriteResult{0, true, std::strerror(errno)};
  }
}

Addr Connection::local_address() const { return net::local_addr(fd_.load()); }

// Producer side: waits (bounded per round, rechecking stopping_) while the
// UI has not made room, never dropping the event.
bool Connection::push(Incoming&& in) {
  while (!queue_.try_push(std::move(in))) {
    if (stopping_.load(std::memory_order_acquire)) return false;
    pollfd p{space_fd_, POLLIN, 0};
    poll(&p, 1, kFullQueueWaitMs);
    net::drain_wake(space_fd_);
  }
  net::signal_wake(wake_fd_);
  return true;
}

// Receiver thread: connect, report, then receive until the end.
void Connection::run(const std::string& host, const std::string& port, int timeout_ms) {
  std::string err;
  const int fd = connect_any(host, port, timeout_ms, err);
  if (fd < 0) {
    push_outcome(Incoming::What::Failed, std::move(err));
    return;
  }
  net::set_nodelay(fd);
  fd_.store(fd);
  if (stopping_.load()) return;  // close() may not have seen fd_: never recv()
  if (push_outcome(Incoming::What::Connected, {})) receive_loop(fd);
}

// After our own close() nobody is listening any more.
bool Connection::push_outcome(Incoming::What what, std::string why) {
  if (stopping_.load()) return false;
  Incoming in;
  in.what = what;
  in.why = std::move(why);
  in.received = std::chrono::steady_clock::now();
  return push(std::move(in));
}

// Like net::connect_tcp(), but a close() on the UI thread ends the wait for
// an address at once instead of after timeout_ms.
int Connection::connect_any(const std::string& host, const std::string& port, int timeout_ms,
                            std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    err = "resolve " + peer_text_ + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    return -1;
  }
  int fd = -1, e = EHOSTUNREACH;
  for (const addrinfo* ai = res; ai != nullptr && fd < 0 && !stopping_.load(); ai = ai->ai_next) {
    fd = connect_one(ai, timeout_ms, space_fd_);
    if (fd < 0) e = errno;
  }
  freeaddrinfo(res);
  if (fd < 0) err = "connect to " + peer_text_ + ": " + std::strerror(e);
  return fd;
}

void Connection::receive_loop(int fd) {
  FrameDecoder decoder(Role::Client, kMaxServerPayload);
  std::string why;
  for (;;) {
    const std::span<std::uint8_t> space = decoder.write_space(kRecvChunk);
    const net::IoResult r = net::recv_some(fd, space.data(), space.size());
    if (r.status == net::IoStatus::Closed) {
      why = "the server closed the connection";
      break;
    }
    if (r.status != net::IoStatus::Ok) {
      why = std::strerror(r.err);
      break;
    }
    decoder.commit(r.bytes);
    Frame f;
    DecodeResult res;
    const auto now = std::chrono::steady_clock::now();
    while ((res = decoder.next(f)) == DecodeResult::Frame) {
      Incoming in;
      in.header = f.header;
      in.received = now;
      in.payload.assign(f.payload.begin(), f.payload.end());
      if (!push(std::move(in))) return;
    }
    if (res != DecodeResult::NeedMore) {
      why = std::string("bad frame from the server: ") + describe(res);
      break;
    }
  }
  push_outcome(Incoming::What::Closed, std::move(why));
}

}  // namespace sc::tui
