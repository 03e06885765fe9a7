#include "connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
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

}  // namespace

std::unique_ptr<Connection> Connection::open(const std::string& host, const std::string& port,
                                             int timeout_ms, std::string& err) {
  const int fd = net::connect_tcp(host, port, timeout_ms, err);
  if (fd < 0) return nullptr;
  // A blocking socket whose send() gives up after a while: with it
  // send_all() can bound the time the UI spends on a server that stopped
  // reading.  recv() in the receiver is unaffected (no SO_RCVTIMEO).
  timeval tv{};
  tv.tv_sec = 1;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  net::set_nodelay(fd);
  const int wake = net::make_wake_fd();
  const int space = wake >= 0 ? net::make_wake_fd() : -1;
  if (wake < 0 || space < 0) {
    err = std::string("eventfd: ") + std::strerror(errno);
    if (wake >= 0) net::close_keep_errno(wake);
    net::close_keep_errno(fd);
    return nullptr;
  }
  const bool v6 = host.find(':') != std::string::npos;
  std::string peer = (v6 ? "[" + host + "]" : host) + ":" + port;
  std::unique_ptr<Connection> c(new Connection(fd, wake, space, std::move(peer)));
  c->receiver_ = std::thread([raw = c.get()] { raw->receive_loop(); });
  return c;
}

Connection::Connection(int fd, int wake_fd, int space_fd, std::string peer_text)
    : fd_(fd), wake_fd_(wake_fd), space_fd_(space_fd), peer_text_(std::move(peer_text)),
      queue_(kQueueCapacity) {}

Connection::~Connection() {
  close();
  ::close(wake_fd_);
  ::close(space_fd_);
}

void Connection::close() {
  if (fd_ < 0) return;
  stopping_.store(true, std::memory_order_release);
  ::shutdown(fd_, SHUT_RDWR);  // ends a recv() blocked in the receiver
  net::signal_wake(space_fd_);  // ends a wait for queue space
  if (receiver_.joinable()) receiver_.join();
  ::close(fd_);
  fd_ = -1;
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

bool Connection::send(const Bytes& bytes, int timeout_ms) {
  return fd_ >= 0 && net::send_all(fd_, bytes.data(), bytes.size(), timeout_ms);
}

Addr Connection::local_address() const { return net::local_addr(fd_); }

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

void Connection::receive_loop() {
  FrameDecoder decoder(Role::Client, kMaxServerPayload);
  Incoming closed;
  closed.what = Incoming::What::Closed;
  for (;;) {
    const std::span<std::uint8_t> space = decoder.write_space(kRecvChunk);
    const net::IoResult r = net::recv_some(fd_, space.data(), space.size());
    if (r.status == net::IoStatus::Closed) {
      closed.why = "the server closed the connection";
      break;
    }
    if (r.status != net::IoStatus::Ok) {
      closed.why = std::strerror(r.err);
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
      closed.why = std::string("bad frame from the server: ") + describe(res);
      break;
    }
  }
  // After our own close() nobody is listening any more.
  if (!stopping_.load(std::memory_order_acquire)) push(std::move(closed));
}

}  // namespace sc::tui
