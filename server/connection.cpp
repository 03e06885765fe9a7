#include "server/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/net.hpp"
#include "server/cluster.hpp"

namespace sc::server {
namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SC_SANITIZED 1
#endif
#endif

// Thousands of connection threads must stay cheap: only the stack pages a
// thread touches count towards RSS, but the reservation must also cover the
// deepest path (logging).  Sanitizers need several times more.
#ifdef SC_SANITIZED
constexpr std::size_t kStackSize = 1024 * 1024;
#else
constexpr std::size_t kStackSize = 128 * 1024;
#endif

// Per turn, read at most this much before answering and writing, so that one
// fast sender cannot keep its thread from serving its own output.
constexpr std::size_t kReadBudget = 256 * 1024;
// recv() size: small for idle and interactive clients, doubled while a
// recv() fills it completely.
constexpr std::size_t kMinRecvChunk = 4 * 1024;
constexpr std::size_t kMaxRecvChunk = 64 * 1024;
// A turn's answers go to the Peer (and the kernel) once they reach this
// much, so the turn buffer stays small whatever a client pipelines.
constexpr std::size_t kTurnFlush = 64 * 1024;
// Buffers are released after this long without traffic.
constexpr auto kReleaseDelay = std::chrono::seconds(1);
// Bounded goodbyes: how long to flush the last frames and wait for EOF.
constexpr auto kGoodbyeWait = std::chrono::seconds(1);
constexpr auto kShutdownGoodbyeWait = std::chrono::milliseconds(500);
// A client being turned away gets this long (or the idle timeout, if
// shorter) for its handshake: long enough for a slow link, short enough
// that the server's few refusal slots (Server::refuse_over_tls) free up.
constexpr auto kRefusalHandshake = std::chrono::seconds(5);

}  // namespace

Connection::Connection(Shared& shared, int fd, const Entry& entry,
                       std::unique_ptr<tls::TlsSession> tls)
    : sh_(shared),
      fd_(fd),
      peer_(std::make_shared<Peer>(entry, fd, shared.opts.sendq, std::move(tls))),
      decoder_(Role::Server, shared.opts.max_payload),
      recv_chunk_(kMinRecvChunk) {}

bool Connection::start() {
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc == 0) {
    rc = pthread_attr_setstacksize(&attr, kStackSize);
    if (rc == 0) rc = pthread_create(&thread_, &attr, &Connection::thread_main, this);
    pthread_attr_destroy(&attr);
  }
  started_ = rc == 0;
  errno = rc;
  return started_;
}

void Connection::join() {
  if (started_) pthread_join(thread_, nullptr);
  started_ = false;
}

void Connection::abandon() {
  const int e = errno;
  peer_->retire();
  peer_->close();
  fd_ = -1;
  errno = e;
}

void* Connection::thread_main(void* self) {
  static_cast<Connection*>(self)->run();
  return nullptr;
}

void Connection::run() {
  // SIGURG (a wake-up, see peer.hpp) stays blocked except inside ppoll().
  sigset_t urg;
  sigemptyset(&urg);
  sigaddset(&urg, SIGURG);
  pthread_sigmask(SIG_BLOCK, &urg, &wait_mask_);
  sigdelset(&wait_mask_, SIGURG);
  peer_->set_owner(pthread_self());
  now_ = Clock::now();
  if (peer_->tls()) {
    if (!handshake()) {
      finish();
      return;
    }
    if (refusing_) {
      refuse();
    } else {
      join_server();
      // Requests that came in the same records as the end of the handshake.
      dispatch_frames();
      flush();
    }
  } else {
    join_server();
  }
  while (phase_ != Phase::Done) turn();
  finish();
}

// TLS: the handshake, bounded by handshake_limit().  Nobody knows about the
// client meanwhile (no LIST entry, no JOINED), so only this thread uses its
// Peer; a server shutdown ends the wait.
bool Connection::handshake() {
  const std::chrono::seconds limit = handshake_limit();
  const Clock::time_point deadline = now_ + limit;
  const std::string from = format_addr(addr()) + (refusing_ ? ", being turned away" : "");
  for (;;) {
    const Peer::Marks m = peer_->marks();
    if (m.stop) return false;
    if (m.broken) {
      spdlog::debug("client {} ({}): send during the TLS handshake: {}", id(), from,
                    std::strerror(m.err));
      return false;
    }
    if (now_ >= deadline) {
      spdlog::info("client {} ({}): TLS handshake not done within {} s; closing", id(), from,
                   limit.count());
      return false;
    }
    pollfd pfd{fd_, static_cast<short>(POLLIN | (peer_->queued() != 0 ? POLLOUT : 0)), 0};
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now_).count();
    const timespec timeout{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
    const int ready = ppoll(&pfd, 1, &timeout, &wait_mask_);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("client {}: poll: {}", id(), std::strerror(errno));
      return false;
    }
    now_ = Clock::now();
    if (ready <= 0) continue;
    if ((pfd.revents & POLLOUT) != 0) peer_->flush();
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const net::IoResult r = receive(recv_chunk_);
    if (r.status == net::IoStatus::Closed) {
      spdlog::info("client {} ({}): closed during the TLS handshake", id(), from);
      return false;
    }
    if (r.status == net::IoStatus::Error) return false;  // receive() logged a TLS failure
    if (peer_->tls_established()) return true;
  }
}

std::chrono::seconds Connection::handshake_limit() const {
  const std::chrono::seconds idle(sh_.opts.idle_timeout_s);
  return refusing_ ? std::min<std::chrono::seconds>(kRefusalHandshake, idle) : idle;
}

// A TLS client turned away at accept: the ERROR a plaintext client would
// have got at once, then the usual bounded goodbye (close_notify, FIN,
// draining).  left_ is already set, so close_gracefully() tells nobody.
void Connection::refuse() {
  indicate(Type::Error, refusal_status_, refusal_text_);
  close_gracefully(LeaveReason::Closed);
  flush();
}

void Connection::join_server() {
  const Options& o = sh_.opts;
  last_frame_ = now_;
  send_bucket_ = TokenBucket(o.max_send_rate, 2.0 * o.max_send_rate, now_);
  request_bucket_ = TokenBucket(o.max_request_rate, 2.0 * o.max_request_rate, now_);
  // About one nick change per second, three in a burst; lifted with the
  // request budget (--max-request-rate 0).
  nick_bucket_ = TokenBucket(o.max_request_rate == 0 ? 0 : 1, 3, now_);
  Hello hello{id(), o.heartbeat_s, o.idle_timeout_s, o.delivery_timeout_s, o.max_payload, o.name};
  hello.flags = static_cast<std::uint8_t>((peer_->tls() ? kHelloEncrypted : 0) |
                                          (sign_in_required() ? kHelloSignInRequired : 0) |
                                          (sh_.cluster != nullptr ? kHelloClustered : 0));
  const std::size_t at =
      begin_frame(out_, Kind::Indication, static_cast<std::uint8_t>(Type::Hello), 0, 0);
  put_hello(out_, hello);
  end_frame(out_, at);
  // HELLO is queued before anyone can find us to post: it is always the
  // first frame.  It is sent once we are in the registry, so a client that
  // has its HELLO is already in LIST and can be sent to.  A client that
  // must sign in first joins on its AUTH (complete_sign_in()).
  peer_->queue_first(out_);
  out_.clear();
  greeted_ = true;
  if (!sign_in_required()) {
    sh_.registry.add(peer_);
    joined_ = true;
    announce(PresenceEvent::Joined, LeaveReason::Bye);
  }
  if (peer_->tls()) {
    spdlog::info("client {} connected from {} over {}", id(), format_addr(peer_->entry().addr),
                 peer_->tls_describe());
  } else {
    spdlog::info("client {} connected from {}", id(), format_addr(peer_->entry().addr));
  }
  peer_->flush();
}

// Sleeps until the socket is ready, a deadline passes or another thread
// signals (EINTR: the marks and the queue are looked at every turn anyway).
void Connection::turn() {
  pollfd pfd{fd_, poll_events(), 0};
  const int ms = poll_timeout_ms();
  const timespec timeout{ms / 1000, (ms % 1000) * 1'000'000L};
  const int ready = ppoll(&pfd, 1, &timeout, &wait_mask_);
  if (ready < 0 && errno != EINTR) {
    spdlog::error("client {}: poll: {}", id(), std::strerror(errno));
    close_now(LeaveReason::Closed);
    return;
  }
  now_ = Clock::now();
  const bool readable = ready > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  const bool writable = ready > 0 && (pfd.revents & POLLOUT) != 0;
  if (writable) peer_->flush();
  switch (phase_) {
    case Phase::Open: serve(readable, writable); break;
    case Phase::Flushing: flush_goodbye(); break;
    case Phase::Draining: drain_input(); break;
    case Phase::Done: break;
  }
}

// One turn of normal service: read and answer, expire, obey what other
// threads asked, write our answers.
void Connection::serve(bool readable, bool writable) {
  if (delayed_ && now_ >= delay_until_) end_sign_in_delay();
  if (paused_ && !backed_up()) {
    // The client took enough of its output: answer what we had read.
    paused_ = false;
    dispatch_frames();
  }
  if (readable && !paused_ && !delayed_) read_requests();
  if (phase_ == Phase::Open) check_deadlines();
  if (phase_ == Phase::Open) obey_marks();
  if (phase_ != Phase::Done) flush();
  if (phase_ == Phase::Open && unsent() > sh_.opts.sendq) drop_for_sendq();
  if (phase_ == Phase::Open && (readable || writable)) {
    release_at_ = now_ + kReleaseDelay;
    release_armed_ = true;
  }
}

void Connection::flush_goodbye() {
  hurry_goodbye();
  flush();
  if (phase_ == Phase::Flushing && (peer_->queued() == 0 || now_ >= close_deadline_)) {
    begin_drain();
  }
}

short Connection::poll_events() const {
  switch (phase_) {
    case Phase::Open:
      return static_cast<short>((paused_ || delayed_ ? 0 : POLLIN) |
                                (peer_->queued() != 0 ? POLLOUT : 0));
    case Phase::Flushing: return POLLOUT;
    case Phase::Draining: return POLLIN;
    case Phase::Done: break;
  }
  return 0;
}

int Connection::poll_timeout_ms() const {
  Clock::time_point due = close_deadline_;
  if (phase_ == Phase::Open) {
    // The idle timeout does not run during a sign-in delay.
    due = delayed_ ? delay_until_ : last_frame_ + std::chrono::seconds(sh_.opts.idle_timeout_s);
    if (sends_head_ < sends_.size()) due = std::min(due, sends_[sends_head_].deadline);
    if (release_armed_) due = std::min(due, release_at_);
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(due - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
}

// ---------------------------------------------------------------------------
// Input.

// One recv() of at most `want` bytes into the decoder; a TLS client's bytes
// are decrypted on the way (Error with EPROTO, logged, when TLS fails).
net::IoResult Connection::receive(std::size_t want) {
  if (!peer_->tls()) {
    const std::span<std::uint8_t> space = decoder_.write_space(want);
    const net::IoResult r = net::recv_some(fd_, space.data(), space.size());
    decoder_.commit(r.status == net::IoStatus::Ok ? r.bytes : 0);
    if (first_byte_ < 0 && r.status == net::IoStatus::Ok && r.bytes > 0) first_byte_ = space[0];
    return r;
  }
  if (cipher_in_.size() < want) cipher_in_.resize(want);
  net::IoResult r = net::recv_some(fd_, cipher_in_.data(), want);
  if (r.status != net::IoStatus::Ok) return r;
  std::string why;
  switch (peer_->tls_input(ByteView(cipher_in_.data(), r.bytes), decoder_, why)) {
    case tls::TlsSession::Input::Ok: break;
    case tls::TlsSession::Input::Closed: tls_closed_ = true; break;
    case tls::TlsSession::Input::Failed:
      spdlog::info("client {} ({}): TLS {}", id(), format_addr(addr()), why);
      r.status = net::IoStatus::Error;
      r.err = EPROTO;
      break;
  }
  return r;
}

void Connection::read_requests() {
  std::size_t budget = kReadBudget;
  while (phase_ == Phase::Open && !paused_ && !delayed_ && budget > 0) {
    const std::size_t want = std::min(recv_chunk_, budget);
    const net::IoResult r = receive(want);
    if (r.status == net::IoStatus::WouldBlock) return;
    if (r.status == net::IoStatus::Closed) {
      eof_ = true;
      close_gracefully(LeaveReason::Closed);
      return;
    }
    if (r.status == net::IoStatus::Error) {
      spdlog::debug("client {}: recv: {}", id(), std::strerror(r.err));
      close_now(LeaveReason::Closed);
      return;
    }
    budget -= r.bytes;
    dispatch_frames();
    if (tls_closed_ && phase_ == Phase::Open) {
      // close_notify: the client is leaving, like an EOF.
      close_gracefully(LeaveReason::Closed);
      return;
    }
    // A short read drained the socket: poll() says when there is more, which
    // saves the recv() that would only say EAGAIN.
    if (r.bytes < want) return;
    recv_chunk_ = std::min(recv_chunk_ * 2, kMaxRecvChunk);
  }
}

// Answers every complete frame buffered.  Only complete frames count as life
// for the idle timeout; a TOO_LARGE request counts when its header arrives
// and again once its payload has been skipped.
void Connection::dispatch_frames() {
  Frame f;
  while (phase_ == Phase::Open && !delayed_) {
    if (out_.size() >= kTurnFlush) flush();
    if (backed_up()) {
      // Hand this turn's answers to the kernel; if it cannot take enough,
      // stop answering (and reading) until POLLOUT says it took some.
      flush();
      if (backed_up()) {
        paused_ = true;
        return;
      }
    }
    // A flush that could not queue the answers dropped the client.
    if (phase_ != Phase::Open) return;
    const DecodeResult r = decoder_.next(f);
    switch (r) {
      case DecodeResult::NeedMore:
        if (skipping_ && decoder_.pending() == 0) {
          skipping_ = false;
          last_frame_ = now_;
        }
        return;
      case DecodeResult::Frame:
        skipping_ = false;
        last_frame_ = now_;
        handle_request(f);
        // Answers other than LIST are at most max-payload + 128 bytes and
        // fit below --sendq by construction (soft_sendq()); what others
        // posted meanwhile may not.
        if (phase_ == Phase::Open && unsent() > sh_.opts.sendq) drop_for_sendq();
        break;
      case DecodeResult::TooLarge:
        skipping_ = true;
        last_frame_ = now_;
        respond_error(f.header, Status::TooLarge,
                      fmt::format("request of {} bytes exceeds the maximum of {} bytes",
                                  f.header.length, sh_.opts.max_payload));
        break;
      default:
        handle_violation(r, f.header);
        return;
    }
  }
}

void Connection::handle_request(const Frame& f) {
  const Header& h = f.header;
  spdlog::debug("client {}: {} request id {} ({} bytes)", id(), type_name(h.type), h.id,
                h.length);
  if (!charge(f)) {
    respond_error(h, Status::RateLimited,
                  fmt::format("request budget exceeded ({} units per second; {} costs {})",
                              sh_.opts.max_request_rate, type_name(h.type), request_cost(f)));
    return;
  }
  if (refused_before_sign_in(h)) return;
  switch (static_cast<Type>(h.type)) {
    case Type::Time: return on_time(f);
    case Type::Name: return on_name(f);
    case Type::List: return on_list(f);
    case Type::Send: return on_send(f);
    case Type::Ping: return on_ping(f);
    case Type::Nick: return on_nick(f);
    case Type::Ack: return on_ack(f);
    case Type::Subscribe: return on_subscribe(f);
    case Type::Bye: return on_bye(f);
    case Type::Auth: return on_auth(f);
    default:
      respond_error(h, Status::UnknownType, fmt::format("unknown request type {}", h.type));
  }
}

// Bad magic, version or kind: the stream cannot be trusted any further, so
// no resynchronising: ERROR, then close.
void Connection::handle_violation(DecodeResult r, const Header& partial) {
  std::string text;
  if (r == DecodeResult::BadVersion) {
    text = fmt::format("unsupported protocol version {}", partial.version);
  } else if (r == DecodeResult::BadKind) {
    text = fmt::format("kind {} is not a request", partial.kind);
  } else {
    text = "bad magic";
  }
  // 0x16 starts a TLS handshake record: a TLS client at the plaintext port.
  const bool tls_hello = r == DecodeResult::BadMagic && first_byte_ == 0x16 && !peer_->tls();
  spdlog::info("client {}: protocol violation: {}{}", id(), text,
               tls_hello ? " (a TLS ClientHello: TLS clients must connect to the TLS port)" : "");
  indicate(Type::Error, status_for(r), text);
  close_gracefully(LeaveReason::ProtocolError);
}

// ---------------------------------------------------------------------------
// Output.

void Connection::respond_ok(const Header& req, ByteView payload) {
  const std::size_t at = begin_frame(out_, Kind::Response, req.type, 0, req.id);
  out_.insert(out_.end(), payload.begin(), payload.end());
  end_frame(out_, at);
}

void Connection::respond_error(const Header& req, Status status, std::string_view text) {
  const std::size_t at =
      begin_frame(out_, Kind::Response, req.type, static_cast<std::uint8_t>(status), req.id);
  put_text(out_, text);
  end_frame(out_, at);
}

void Connection::indicate(Type type, Status status, std::string_view text) {
  const std::size_t at = begin_frame(out_, Kind::Indication, static_cast<std::uint8_t>(type),
                                     static_cast<std::uint8_t>(status), 0);
  put_text(out_, text);
  end_frame(out_, at);
}

// What other threads asked for: a dead mark (sendq), a failed send, a
// server shutdown.
void Connection::obey_marks() {
  const Peer::Marks m = peer_->marks();
  if (m.dead) {
    drop_for_sendq();
  } else if (m.broken) {
    spdlog::debug("client {}: send: {}", id(), std::strerror(m.err));
    close_now(LeaveReason::Closed);
  } else if (m.stop) {
    indicate(Type::Shutdown, Status::Ok, "server is shutting down");
    close_gracefully(LeaveReason::ServerShutdown);
  }
}

// Hands this turn's frames to the Peer, which sends them at once when
// nothing else is queued.  While open, the queue never passes --sendq: the
// soft limit leaves room for any one answer, so answers that do not fit
// mean others' posts filled the queue of a client that does not read.
void Connection::flush() {
  if (out_.empty()) return;
  if (phase_ == Phase::Open) {
    const bool fits = peer_->write_within_sendq(out_);
    out_.clear();
    if (!fits) drop_for_sendq();
    return;
  }
  peer_->write(out_);
  out_.clear();
}

bool Connection::backed_up() const {
  // Above, not at: the soft limit is 0 at the smallest --sendq, where an
  // empty queue must still let the next request be answered.
  return unsent() > soft_sendq(sh_.opts.sendq, sh_.opts.max_payload);
}

// ---------------------------------------------------------------------------
// Deadlines.

void Connection::check_deadlines() {
  expire_deliveries();
  // A sign-in delay is the server's silence, not the client's.
  if (!delayed_ && now_ >= last_frame_ + std::chrono::seconds(sh_.opts.idle_timeout_s)) {
    indicate(Type::Error, Status::IdleTimeout,
             fmt::format("no request for {} s", sh_.opts.idle_timeout_s));
    close_gracefully(LeaveReason::IdleTimeout);
    return;
  }
  if (release_armed_ && now_ >= release_at_) release_idle_memory();
}

// Answers NOT_DELIVERED for our SENDs whose time is up, unless the target's
// ACK (or departure) settled them first; forgets settled ones at the front.
void Connection::expire_deliveries() {
  while (sends_head_ < sends_.size()) {
    const Pending& p = sends_[sends_head_];
    if (p.deadline <= now_) {
      if (sh_.deliveries.take(p.message_id)) {
        fail_undelivered(p, fmt::format("no acknowledgement within {} s",
                                        sh_.opts.delivery_timeout_s));
      }
    } else if (sh_.deliveries.is_pending(p.message_id)) {
      break;
    }
    ++sends_head_;
  }
  if (sends_head_ == sends_.size()) {
    sends_.clear();
    sends_head_ = 0;
  } else if (sends_head_ >= 1024 && sends_head_ * 2 >= sends_.size()) {
    sends_.erase(sends_.begin(), sends_.begin() + static_cast<std::ptrdiff_t>(sends_head_));
    sends_head_ = 0;
  }
}

// An idle connection keeps no buffers: thousands of idle clients must cost
// little more than their thread's touched stack.
void Connection::release_idle_memory() {
  release_armed_ = false;
  // out_ may hold this turn's answers (a deadline in the same turn).
  if (decoder_.pending() != 0 || !out_.empty() || peer_->queued() != 0) return;
  decoder_.shrink_if_idle();
  Bytes().swap(out_);
  Bytes().swap(scratch_);
  Bytes().swap(cipher_in_);
  if (sends_.empty()) std::vector<Pending>().swap(sends_);
  recv_chunk_ = kMinRecvChunk;
  peer_->release_idle_memory();
}

// ---------------------------------------------------------------------------
// Ending.

// Stops serving, then sends what is queued (bounded) before closing.
void Connection::close_gracefully(LeaveReason reason) {
  leave(reason);
  phase_ = Phase::Flushing;
  close_deadline_ =
      now_ + (reason == LeaveReason::ServerShutdown
                  ? std::chrono::duration_cast<Clock::duration>(kShutdownGoodbyeWait)
                  : std::chrono::duration_cast<Clock::duration>(kGoodbyeWait));
}

void Connection::close_now(LeaveReason reason) {
  leave(reason);
  phase_ = Phase::Done;
}

// The client is gone for everyone else: out of the registry and LIST, no
// more posts, its incoming messages fail, its own pending SENDs are dropped,
// subscribers hear LEFT.  Runs once.
void Connection::leave(LeaveReason reason) {
  if (left_) return;
  left_ = true;
  reason_ = reason;
  if (!joined_) {
    // A TLS client that never finished its handshake, or one that never
    // signed in: nobody knew it.
    peer_->retire();
    sh_.clients.fetch_sub(1, std::memory_order_relaxed);
    if (greeted_) {
      spdlog::info("client {} ({}) left without signing in: {}", id(),
                   format_addr(peer_->entry().addr),
                   leave_reason_name(static_cast<std::uint8_t>(reason)));
    }
    return;
  }
  if (sh_.cluster != nullptr) {
    // Out of the registry and announced to the other nodes under one lock
    // (Cluster::presence).
    sh_.cluster->presence(PresenceEvent::Left, reason, peer_->entry(), signed_in_,
                          [this] { sh_.registry.remove(id()); });
  } else {
    sh_.registry.remove(id());
  }
  peer_->retire();
  sh_.clients.fetch_sub(1, std::memory_order_relaxed);
  const std::vector<Pending> failed = sh_.deliveries.take_all_for(id());
  if (!failed.empty()) {
    const std::string why = fmt::format("client {} left before acknowledging", id());
    for (const Pending& p : failed) fail_undelivered(p, why);
  }
  sends_.clear();
  sends_head_ = 0;
  sh_.registry.publish(PresenceEvent::Left, reason, *peer_);  // the other nodes know
  spdlog::info("client {} ({}) left: {}", id(), format_addr(peer_->entry().addr),
               leave_reason_name(static_cast<std::uint8_t>(reason)));
}

// The client stopped reading and its backlog passed --sendq.  Best effort,
// in one non-blocking send: the rest of the frame it is in the middle of and
// an ERROR; failure is expected and ignored.
void Connection::drop_for_sendq() {
  Bytes error;
  put_error_indication(error, Status::SendqExceeded,
                       fmt::format("more than {} bytes queued for a client that is not reading",
                                   sh_.opts.sendq));
  peer_->send_last_words(error);
  close_now(LeaveReason::SendqExceeded);
}

// Server shutdown while we are already saying goodbye: the main thread is
// waiting to join us, so cut the wait short.
void Connection::hurry_goodbye() {
  if (!peer_->marks().stop) return;
  if (phase_ == Phase::Draining) {
    phase_ = Phase::Done;
  } else {
    close_deadline_ = std::min(close_deadline_, now_ + kShutdownGoodbyeWait);
  }
}

void Connection::begin_drain() {
  // FIN after the last frame; reading until the client's EOF before close()
  // keeps the kernel from answering unread input with an RST that could
  // destroy our goodbye in flight.  TLS: close_notify first, so the client
  // can tell our end from a truncation.
  peer_->tls_close();
  shutdown(fd_, SHUT_WR);
  phase_ = eof_ ? Phase::Done : Phase::Draining;
}

void Connection::drain_input() {
  hurry_goodbye();
  if (phase_ != Phase::Draining) return;
  scratch_.resize(kMinRecvChunk);
  for (std::size_t budget = kReadBudget; budget > 0;) {
    const net::IoResult r = net::recv_some(fd_, scratch_.data(), scratch_.size());
    if (r.status == net::IoStatus::WouldBlock) break;
    if (r.status != net::IoStatus::Ok) {
      phase_ = Phase::Done;
      return;
    }
    budget -= std::min(budget, r.bytes);
  }
  if (now_ >= close_deadline_) phase_ = Phase::Done;
}

void Connection::finish() {
  leave(LeaveReason::Closed);
  peer_->close();
  fd_ = -1;
  // Last action: after this the main thread may join and delete us.
  sh_.reaper.hand_over(this);
}

}  // namespace sc::server
