#include "bench/loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/net.hpp"

namespace sc::bench {
namespace {

// Connections in the middle of their handshake, per loop: enough to fill
// the server's accept queue quickly, few enough never to overflow it (an
// overflowing queue drops SYNs, and the retry costs a whole second).
constexpr std::size_t kConnectWindow = 128;
constexpr int kTickMs = 10;
constexpr auto kDrainBound = std::chrono::seconds(10);
// The loop's own heartbeat PINGs use ids with the top bit set; modes number
// their requests from 1 and stay below it.
constexpr std::uint32_t kHeartbeatIdBit = 0x80000000u;

Clock::duration setup_bound(std::size_t n) {
  return std::chrono::seconds(10) + std::chrono::milliseconds(2) * static_cast<std::int64_t>(n);
}

}  // namespace

void Errors::merge(const Errors& o) {
  lost += o.lost;
  duplicated += o.duplicated;
  wrong += o.wrong;
  disconnected += o.disconnected;
}

Loop::Loop(const Target& target, Control& ctl, int connections)
    : target_(target), ctl_(ctl), conns_(static_cast<std::size_t>(connections)) {}

Loop::~Loop() {
  close_all();
}

std::vector<std::uint32_t> Loop::client_ids() const {
  std::vector<std::uint32_t> ids;
  ids.reserve(conns_.size());
  for (const Conn& c : conns_) ids.push_back(c.hello.client_id);
  return ids;
}

void Loop::run() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0 || !connect_all()) {
    if (setup_error_.empty()) setup_error_ = std::string("epoll: ") + std::strerror(errno);
    ctl_.failed.fetch_add(1);
    wait_phase(kClosing);
    close_all();
    return;
  }
  ctl_.ready.fetch_add(1);
  wait_phase(kRunning);
  if (phase_ == kRunning) {
    on_start(Clock::now());
    wait_phase(kDraining);
  }
  if (phase_ == kDraining) drain();
  ctl_.drained.fetch_add(1);
  wait_phase(kClosing);
  close_all();
}

// Opens every connection, at most kConnectWindow at a time, until each has
// had its HELLO.
bool Loop::connect_all() {
  const auto deadline = Clock::now() + setup_bound(conns_.size());
  std::size_t opened = 0;
  while (greeted_ < conns_.size()) {
    while (opened < conns_.size() && connecting_ < kConnectWindow) {
      if (!open_conn(opened++)) return false;
    }
    poll_once(kTickMs);
    if (!setup_error_.empty()) return false;
    if (phase_ == kClosing) {
      setup_error_ = "stopped while connecting";
      return false;
    }
    if (Clock::now() > deadline) {
      setup_error_ = "connecting took too long (" + std::to_string(greeted_) + " of " +
                     std::to_string(conns_.size()) + " greeted)";
      return false;
    }
  }
  return true;
}

bool Loop::open_conn(std::size_t i) {
  Conn& c = conns_[i];
  const Address& to = target_.nodes[node_of(i)];
  c.fd = socket(to.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    setup_error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  net::set_nodelay(c.fd);
  if (connect(c.fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0 &&
      errno != EINPROGRESS) {
    setup_error_ = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  c.connecting = true;
  ++connecting_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = i;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    setup_error_ = std::string("epoll_ctl: ") + std::strerror(errno);
    return false;
  }
  c.want_out = true;
  return true;
}

void Loop::watch(std::size_t i, bool want_out) {
  Conn& c = conns_[i];
  if (c.want_out == want_out || c.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
  ev.data.u64 = i;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = want_out;
}

void Loop::poll_once(int timeout_ms) {
  std::array<epoll_event, 256> events;
  const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeout_ms);
  phase_ = ctl_.phase.load(std::memory_order_acquire);
  for (int k = 0; k < n; ++k) {
    handle_event(static_cast<std::size_t>(events[static_cast<std::size_t>(k)].data.u64),
                 events[static_cast<std::size_t>(k)].events);
  }
}

void Loop::handle_event(std::size_t i, std::uint32_t events) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  if (c.connecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) finish_connect(i);
    return;
  }
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) read_conn(i);
  if ((events & EPOLLOUT) != 0) flush(i);
}

void Loop::finish_connect(std::size_t i) {
  Conn& c = conns_[i];
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    setup_error_ = std::string("connect: ") + std::strerror(err);
    drop(i, nullptr);
    return;
  }
  c.connecting = false;
  c.last_send = Clock::now();
  watch(i, false);
  if (target_.tls != nullptr) {
    // The first feed (of nothing) writes the ClientHello.
    c.tls = std::make_unique<tls::TlsSession>(target_.tls, tls::TlsSession::Side::Client);
    if (tls_in(i, ByteView())) flush(i);
  }
}

// Feeds what the socket brought to the connection's TLS session, which puts
// the plaintext into the decoder and its own answers (handshake, tickets)
// into the ciphertext to send.  False when the connection was dropped.
bool Loop::tls_in(std::size_t i, ByteView cipher) {
  Conn& c = conns_[i];
  if (c.tls->feed(cipher, c.decoder) != tls::TlsSession::Input::Ok) {
    if (setup_error_.empty() && !c.greeted) setup_error_ = "TLS: " + c.tls->why();
    drop(i, "TLS failed");
    return false;
  }
  c.tls->take_output(c.cipher);
  return true;
}

// Reads everything the socket has, answering each complete frame as it
// comes, then writes all the answers with one send().  recv() goes into the
// loop's own buffer and feed() copies only what arrived: write_space() would
// zero-fill its whole room on every call (a std::vector resize), which at
// one small frame per recv() costs more than the rest of the work.
void Loop::read_conn(std::size_t i) {
  Conn& c = conns_[i];
  for (;;) {
    const net::IoResult r = net::recv_some(c.fd, rbuf_.data(), rbuf_.size());
    if (r.status == net::IoStatus::WouldBlock) break;
    if (r.status != net::IoStatus::Ok) {
      drop(i, r.status == net::IoStatus::Closed ? "closed by the server" : "recv failed");
      return;
    }
    if (c.tls) {
      if (!tls_in(i, ByteView(rbuf_.data(), r.bytes))) return;
    } else {
      c.decoder.feed(ByteView(rbuf_.data(), r.bytes));
    }
    const Clock::time_point now = Clock::now();
    Frame f;
    DecodeResult d;
    while ((d = c.decoder.next(f)) == DecodeResult::Frame) {
      dispatch(i, f, now);
      if (c.fd < 0) return;
    }
    if (d != DecodeResult::NeedMore) {
      ++errors_.wrong;
      drop(i, describe(d));
      return;
    }
    if (r.bytes < rbuf_.size()) break;
  }
  flush(i);
}

void Loop::dispatch(std::size_t i, const Frame& f, Clock::time_point now) {
  Conn& c = conns_[i];
  const Header& h = f.header;
  if (!c.greeted) return greet(i, f);
  if (h.kind == static_cast<std::uint8_t>(Kind::Indication) &&
      (h.type == static_cast<std::uint8_t>(Type::Error) ||
       h.type == static_cast<std::uint8_t>(Type::Shutdown))) {
    ++errors_.wrong;
    return drop(i, h.type == static_cast<std::uint8_t>(Type::Error) ? "ERROR indication"
                                                                     : "SHUTDOWN indication");
  }
  if (h.kind == static_cast<std::uint8_t>(Kind::Response) &&
      h.type == static_cast<std::uint8_t>(Type::Ping) && (h.id & kHeartbeatIdBit) != 0) {
    if (h.status != 0) ++errors_.wrong;
    return;
  }
  on_frame(i, f, now);
}

void Loop::greet(std::size_t i, const Frame& f) {
  Conn& c = conns_[i];
  const Header& h = f.header;
  if (h.kind != static_cast<std::uint8_t>(Kind::Indication) ||
      h.type != static_cast<std::uint8_t>(Type::Hello) ||
      decode_hello(f.payload, c.hello) != Status::Ok) {
    std::string text;
    decode_text(f.payload, text);
    setup_error_ = std::string("expected HELLO, got ") + type_name(h.type) + " " +
                   status_name(h.status) + (text.empty() ? "" : ": ") + text.substr(0, 200);
    return drop(i, nullptr);
  }
  c.greeted = true;
  ++greeted_;
  --connecting_;
}

// The server closed the connection (or the stream broke): if it happens
// during the run, it counts as an error.
void Loop::drop(std::size_t i, const char* why) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  if (why != nullptr && phase_ < kClosing) {
    ++errors_.disconnected;
    if (setup_error_.empty() && !c.greeted) setup_error_ = why;
  }
  close(c.fd);
  c.fd = -1;
}

// With TLS the frames in `out` are encrypted first (once the handshake is
// done: until then only the session's own bytes go out), and the
// ciphertext is what goes to send().
void Loop::flush(std::size_t i) {
  Conn& c = conns_[i];
  if (c.fd < 0) return;
  if (c.tls && c.tls->established() && !c.out.empty()) {
    if (!c.tls->encrypt(ByteView(c.out.data(), c.out.size()))) return drop(i, "TLS encrypt failed");
    c.out.clear();
    c.tls->take_output(c.cipher);
  }
  Bytes& wire = c.wire();
  if (wire.empty()) return;
  while (c.sent < wire.size()) {
    const net::IoResult r = net::send_some(c.fd, wire.data() + c.sent, wire.size() - c.sent);
    if (r.status == net::IoStatus::WouldBlock) break;
    if (r.status != net::IoStatus::Ok) return drop(i, "send failed");
    c.sent += r.bytes;
    c.last_send = Clock::now();
  }
  if (c.sent == wire.size()) {
    wire.clear();
    c.sent = 0;
  }
  watch(i, !wire.empty());
}

// Idle connections must say something every heartbeat interval, or the
// server closes them at its idle timeout.  Checked once a second.
void Loop::send_heartbeats(Clock::time_point now) {
  if (now < next_heartbeat_check_) return;
  next_heartbeat_check_ = now + std::chrono::seconds(1);
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    if (c.fd < 0 || !c.greeted || c.hello.heartbeat_s == 0) continue;
    if (now - c.last_send < std::chrono::seconds(c.hello.heartbeat_s)) continue;
    ping_id_ = (ping_id_ + 1) & ~kHeartbeatIdBit;
    const std::size_t at = begin_frame(c.out, Kind::Request, static_cast<std::uint8_t>(Type::Ping),
                                       0, kHeartbeatIdBit | ping_id_);
    end_frame(c.out, at);
    flush(i);
  }
}

void Loop::wait_phase(int phase) {
  while (phase_ < phase) {
    poll_once(kTickMs);
    send_heartbeats(Clock::now());
  }
}

void Loop::drain() {
  const auto deadline = Clock::now() + kDrainBound;
  while (!drained() && phase_ < kClosing && Clock::now() < deadline) poll_once(kTickMs);
  on_finish();
}

void Loop::close_all() {
  for (Conn& c : conns_) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
  if (epfd_ >= 0) close(epfd_);
  epfd_ = -1;
}

}  // namespace sc::bench
