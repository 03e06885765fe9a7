#include "connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/net.hpp"
#include "known_servers.hpp"

namespace sc::tui {

namespace {

constexpr std::size_t kQueueCapacity = 4096;
constexpr std::size_t kRecvChunk = 64 * 1024;
// How long the receiver sleeps between checks of stopping_ while the queue
// is full; the UI signals space_fd_ long before this in practice.
constexpr int kFullQueueWaitMs = 500;
// A server that accepted the connection but never finishes the handshake.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// Plaintext encrypted per write_some(): bounds the ciphertext kept waiting.
constexpr std::size_t kTlsWriteChunk = 64 * 1024;

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

std::unique_ptr<Connection> Connection::start(const std::string& host, const std::string& port, int timeout_ms,
                                              std::shared_ptr<const TlsClient> tls, std::string& err) {
  const int wake = net::make_wake_fd();
  const int space = wake >= 0 ? net::make_wake_fd() : -1;
  if (wake < 0 || space < 0) {
    err = std::string("eventfd: ") + std::strerror(errno);
    if (wake >= 0) net::close_keep_errno(wake);
    return nullptr;
  }
  std::unique_ptr<Connection> c(new Connection(wake, space, endpoint_text(host, port), std::move(tls)));
  c->receiver_ = std::thread([raw = c.get(), host, port, timeout_ms] { raw->run(host, port, timeout_ms); });
  return c;
}

Connection::Connection(int wake_fd, int space_fd, std::string peer_text, std::shared_ptr<const TlsClient> tls)
    : wake_fd_(wake_fd),
      space_fd_(space_fd),
      peer_text_(std::move(peer_text)),
      tls_client_(std::move(tls)),
      queue_(kQueueCapacity) {}

Connection::~Connection() {
  close();
  ::close(wake_fd_);
  ::close(space_fd_);
}

void Connection::close() {
  if (!receiver_.joinable()) return;
  stopping_.store(true);
  const int fd = fd_.load();
  if (fd >= 0) {
    std::lock_guard lock(tls_mu_);
    if (tls_ && handed_over_.load()) {  // close_notify, if the kernel takes it now
      tls_->close_notify();
      tls_->take_output(cipher_out_);
      send_cipher_locked(fd);
    }
  }
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // ends a blocked recv()
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
  if (tls_client_) return write_tls(fd, data, len);
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

// Receiver thread: connect, (TLS) shake hands and settle trust, report,
// then receive until the end.
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
  // The handshake may decrypt the server's first frames already.
  FrameDecoder decoder(Role::Client, kMaxServerPayload);
  Security sec;
  sec.loopback = is_loopback(net::peer_addr(fd));
  std::string note;
  if (tls_client_ && (!handshake(fd, host, decoder, err) || !settle_trust(host, port, sec, note, err))) {
    push_outcome(Incoming::What::Failed, std::move(err));
    return;
  }
  handed_over_.store(true);
  if (push_outcome(Incoming::What::Connected, std::move(note), sec)) receive_loop(fd, decoder);
}

// After our own close() nobody is listening any more.
bool Connection::push_outcome(Incoming::What what, std::string why, Security security) {
  if (stopping_.load()) return false;
  Incoming in;
  in.what = what;
  in.why = std::move(why);
  in.security = std::move(security);
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

// The frames that came with the end of the stream are handed on before the
// end itself: a TLS server's last frame (an ERROR such as
// TOO_MANY_CONNECTIONS right after the handshake) and its close_notify often
// arrive in one recv().
void Connection::receive_loop(int fd, FrameDecoder& decoder) {
  std::string why;
  for (bool open = true;;) {
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
    if (!open) break;
    open = receive_some(fd, decoder, why);
  }
  push_outcome(Incoming::What::Closed, std::move(why));
}

// One recv() into the decoder, through the TLS session when there is one.
// False with `why` at the end.
bool Connection::receive_some(int fd, FrameDecoder& decoder, std::string& why) {
  std::uint8_t cipher[kRecvChunk];
  const std::span<std::uint8_t> space = tls_client_ ? std::span<std::uint8_t>(cipher, sizeof cipher)
                                                    : decoder.write_space(kRecvChunk);
  const net::IoResult r = net::recv_some(fd, space.data(), space.size());
  if (r.status == net::IoStatus::Closed) {
    why = "the server closed the connection";
    return false;
  }
  if (r.status != net::IoStatus::Ok) {
    why = std::strerror(r.err);
    return false;
  }
  if (!tls_client_) {
    decoder.commit(r.bytes);
    return true;
  }
  std::unique_lock lock(tls_mu_);
  const tls::TlsSession::Input in = tls_->feed(ByteView(cipher, r.bytes), decoder);
  tls_->take_output(cipher_out_);
  send_cipher_locked(fd);
  const bool waiting = !cipher_out_.empty();
  if (in == tls::TlsSession::Input::Failed) why = "TLS: " + tls_->why();
  lock.unlock();
  if (waiting) net::signal_wake(wake_fd_);  // the UI polls for POLLOUT and flushes
  if (in == tls::TlsSession::Input::Closed) why = "the server closed the connection";
  return in == tls::TlsSession::Input::Ok;
}

// --------------------------------------------------------------------------
// TLS.

WriteResult Connection::send_cipher_locked(int fd) {
  std::size_t done = 0;
  WriteResult r;
  while (done < cipher_out_.size()) {
    const ssize_t n = ::send(fd, cipher_out_.data() + done, cipher_out_.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) r = WriteResult{0, true, std::strerror(errno)};
    break;
  }
  cipher_out_.erase(cipher_out_.begin(), cipher_out_.begin() + static_cast<std::ptrdiff_t>(done));
  return r;
}

// Takes plaintext only when no ciphertext waits, so the Session's buffer,
// not ours, holds what the server does not read (and its stall limit
// applies).  What is taken is encrypted whole and sent as far as the kernel
// takes it.
WriteResult Connection::write_tls(int fd, const std::uint8_t* data, std::size_t len) {
  std::lock_guard lock(tls_mu_);
  if (WriteResult r = send_cipher_locked(fd); r.broken || !cipher_out_.empty()) return r;
  len = std::min(len, kTlsWriteChunk);
  if (!tls_->encrypt(ByteView(data, len))) return WriteResult{0, true, "TLS: " + tls_->why()};
  tls_->take_output(cipher_out_);
  if (WriteResult r = send_cipher_locked(fd); r.broken) return r;
  return WriteResult{len, false, {}};
}

bool Connection::output_waiting() const {
  std::lock_guard lock(tls_mu_);
  return !cipher_out_.empty();
}

WriteResult Connection::flush_output() {
  const int fd = fd_.load();
  if (fd < 0 || !tls_client_) return WriteResult{};
  std::lock_guard lock(tls_mu_);
  return send_cipher_locked(fd);
}

void Connection::answer(bool trust) {
  answer_.store(trust ? 1 : 2);
  net::signal_wake(space_fd_);
}

// Receiver thread, before Connected: the UI writes nothing yet, so the
// socket is still blocking and ours alone; tls_mu_ is taken all the same.
bool Connection::handshake(int fd, const std::string& host, FrameDecoder& plain, std::string& err) {
  {
    std::lock_guard lock(tls_mu_);
    tls_ = std::make_unique<tls::TlsSession>(tls_client_->ctx(), tls::TlsSession::Side::Client);
    if (!tls_->valid()) {
      err = "TLS: " + tls::last_error("cannot create a session");
      return false;
    }
    if (!tls_client_->prepare(tls_->native(), host, err)) return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + kHandshakeTimeout;
  std::uint8_t cipher[kRecvChunk];
  std::size_t got = 0;
  for (bool done = false;;) {
    if (!handshake_step(fd, ByteView(cipher, got), plain, done, err)) return false;
    if (done) return true;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) == 0) {
      err = "TLS handshake with " + peer_text_ + ": no answer within " +
            std::to_string(kHandshakeTimeout.count()) + " s";
      return false;
    }
    const net::IoResult r = net::recv_some(fd, cipher, sizeof cipher);
    if (r.status != net::IoStatus::Ok) {
      err = "TLS handshake with " + peer_text_ + ": " +
            (r.status == net::IoStatus::Closed ? "the server closed the connection" : std::strerror(r.err));
      return false;
    }
    got = r.bytes;
  }
}

// Feeds what arrived and sends what OpenSSL answers.
bool Connection::handshake_step(int fd, ByteView cipher, FrameDecoder& plain, bool& done, std::string& err) {
  Bytes out;
  tls::TlsSession::Input in;
  {
    std::lock_guard lock(tls_mu_);
    in = tls_->feed(cipher, plain);
    tls_->take_output(out);
    done = tls_->established();
    if (in != tls::TlsSession::Input::Ok) err = "TLS handshake with " + peer_text_ + ": " + tls_->why();
  }
  if (in == tls::TlsSession::Input::Closed) err = "TLS handshake with " + peer_text_ + ": the server closed it";
  if (in != tls::TlsSession::Input::Ok) return false;
  if (!out.empty() && !net::send_all(fd, out.data(), out.size())) {
    err = "TLS handshake with " + peer_text_ + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

// After the handshake: accept, refuse, or ask the user (and remember a yes).
bool Connection::settle_trust(const std::string& host, const std::string& port, Security& sec,
                              std::string& note, std::string& err) {
  const std::string server = server_key(host, port);
  TlsClient::Verdict v;
  {
    std::lock_guard lock(tls_mu_);
    v = tls_client_->judge(tls_->native(), host, server);
    sec.protocol = tls_->describe();
  }
  sec.tls = true;
  sec.trust = v.trust;
  if (v.kind == TlsClient::Verdict::Kind::Refuse) {
    err = "refused " + peer_text_ + ": " + v.text;
    return false;
  }
  if (v.kind == TlsClient::Verdict::Kind::Accept) return true;
  if (!ask(v.text)) {
    err = "not trusted: " + peer_text_ + "'s key " + format_fingerprint(v.fingerprint) + " (you said no)";
    return false;
  }
  sec.trust = Security::Trust::NewKey;
  note = tls_client_->remember(server, v.fingerprint);
  return true;
}

// Queues the question and waits for answer() (or close()).
bool Connection::ask(const std::string& question) {
  if (!push_outcome(Incoming::What::Question, question)) return false;
  while (answer_.load() == 0) {
    if (stopping_.load()) return false;
    pollfd p{space_fd_, POLLIN, 0};
    poll(&p, 1, kFullQueueWaitMs);
    net::drain_wake(space_fd_);
  }
  return answer_.load() == 1;
}

}  // namespace sc::tui
