#include "server/peer.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/net.hpp"

namespace sc::server {
namespace {

// Compact the queue only when this much of it was sent already.
constexpr std::size_t kCompactAt = 64 * 1024;

void on_wake(int) {}  // only there so that SIGURG interrupts ppoll()

std::uint32_t frame_length_at(const Bytes& b, std::size_t at) {
  std::uint32_t len;
  std::memcpy(&len, b.data() + at + 12, sizeof len);
  return ntohl(len);
}

}  // namespace

bool install_wake_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_wake;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the point is to end ppoll() with EINTR
  return sigaction(SIGURG, &sa, nullptr) == 0;
}

Peer::Peer(const Entry& entry, int fd, std::uint64_t sendq, std::unique_ptr<tls::TlsSession> tls)
    : entry_(entry), sendq_(sendq), fd_(fd), tls_(std::move(tls)) {}

bool Peer::post(ByteView frames) {
  std::lock_guard lock(mu_);
  if (retired_ || dead_ || broken_ || fd_ < 0) return false;
  if (!fits_locked(frames)) {
    dead_ = true;
    wake_locked();
    return false;
  }
  write_locked(frames);
  return true;
}

void Peer::request_stop() {
  std::lock_guard lock(mu_);
  if (stop_) return;
  stop_ = true;
  wake_locked();
}

void Peer::set_owner(pthread_t self) {
  std::lock_guard lock(mu_);
  owner_ = self;
  owned_ = true;
  // A stop requested before the thread ran: leave the wake-up pending (the
  // signal is blocked until ppoll()).
  if (stop_) pthread_kill(self, SIGURG);
}

void Peer::queue_first(ByteView frames) {
  std::lock_guard lock(mu_);
  if (tls_) {
    // Behind whatever the handshake left unsent.
    if (!encrypt_locked(frames)) return;
    out_.insert(out_.end(), cipher_.begin(), cipher_.end());
  } else {
    out_.assign(frames.begin(), frames.end());
    sent_ = 0;
  }
  queued_.store(out_.size() - sent_, std::memory_order_relaxed);
}

void Peer::write(ByteView frames) {
  std::lock_guard lock(mu_);
  write_locked(frames);
}

bool Peer::write_within_sendq(ByteView frames) {
  std::lock_guard lock(mu_);
  if (!fits_locked(frames)) return false;
  write_locked(frames);
  return true;
}

// New frames are charged at their plaintext size, also for TLS, where the
// queue holds ciphertext: the smallest --sendq (max-payload + 128) is sized
// for the largest frame, and the record overhead (29 bytes per 16 KiB
// record, 0.2 %) must not make a legal answer or MESSAGE miss it.  So a TLS
// client's queue may pass --sendq by that overhead.
bool Peer::fits_locked(ByteView frames) const {
  return out_.size() - sent_ + frames.size() <= sendq_;
}

void Peer::flush() {
  std::lock_guard lock(mu_);
  flush_locked();
}

void Peer::write_locked(ByteView frames) {
  if (fd_ < 0 || broken_ || dead_ || frames.empty()) return;
  if (!tls_) return enqueue_locked(frames);
  if (encrypt_locked(frames)) enqueue_locked(cipher_);
}

// TLS: encrypts whole frames into cipher_; a session that cannot write any
// more breaks the connection.
bool Peer::encrypt_locked(ByteView frames) {
  cipher_.clear();
  if (!tls_->encrypt(frames)) {
    broken_ = true;
    broken_errno_ = EPROTO;
    wake_locked();
    return false;
  }
  tls_->take_output(cipher_);
  return true;
}

// Bytes queued behind others wait their turn; otherwise they go straight
// to the kernel, and only what it does not take is queued (plaintext: whole
// frames are kept so that out_ still starts at a frame boundary).
void Peer::enqueue_locked(ByteView frames) {
  if (frames.empty()) return;
  const bool was_empty = sent_ == out_.size();
  if (was_empty) {
    out_.clear();
    sent_ = 0;
    const net::IoResult r = net::send_some(fd_, frames.data(), frames.size());
    if (r.status == net::IoStatus::Error) {
      broken_ = true;
      broken_errno_ = r.err;
      wake_locked();
      return;
    }
    const std::size_t took = r.status == net::IoStatus::Ok ? r.bytes : 0;
    if (took == frames.size()) return;
    sent_ = took;
  }
  make_room_locked(frames.size());
  out_.insert(out_.end(), frames.begin(), frames.end());
  queued_.store(out_.size() - sent_, std::memory_order_relaxed);
  // The owner must now wait for POLLOUT; a queue that was already non-empty
  // means it is doing so.
  if (was_empty) wake_locked();
}

// Keeps the queue's memory near --sendq: rather than let the vector double
// past it, drop the frames already sent from the front first, and grow to
// at most --sendq plus what must fit.
void Peer::make_room_locked(std::size_t more) {
  if (out_.size() + more <= out_.capacity()) return;
  if (sent_ != 0) {
    const std::size_t start = frame_start_at_or_before(sent_);
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(start));
    sent_ -= start;
    if (out_.size() + more <= out_.capacity()) return;
  }
  const std::size_t need = out_.size() + more;
  const std::size_t cap = static_cast<std::size_t>(std::max<std::uint64_t>(need, sendq_));
  out_.reserve(std::min(std::max(2 * out_.capacity(), need), cap));
}

void Peer::flush_locked() {
  while (fd_ >= 0 && !broken_ && sent_ < out_.size()) {
    const std::size_t want = out_.size() - sent_;
    const net::IoResult r = net::send_some(fd_, out_.data() + sent_, want);
    if (r.status == net::IoStatus::WouldBlock) break;
    if (r.status == net::IoStatus::Error) {
      broken_ = true;
      broken_errno_ = r.err;
      break;
    }
    sent_ += r.bytes;
    if (r.bytes < want) break;  // the socket buffer is full: wait for POLLOUT
  }
  if (sent_ == out_.size() || broken_) {
    out_.clear();
    sent_ = 0;
  } else if (sent_ >= kCompactAt && sent_ >= out_.size() / 2) {
    // Drop the sent whole frames from the front.
    const std::size_t start = frame_start_at_or_before(sent_);
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(start));
    sent_ -= start;
  }
  queued_.store(out_.size() - sent_, std::memory_order_relaxed);
}

// Signals the owner unless the owner is the caller (it looks at the queue
// before it sleeps anyway).
void Peer::wake_locked() {
  if (owned_ && !pthread_equal(owner_, pthread_self())) pthread_kill(owner_, SIGURG);
}

// TLS: ciphertext may be dropped at any offset (there are no frames in it).
std::size_t Peer::frame_start_at_or_before(std::size_t offset) const {
  if (tls_) return offset;
  std::size_t pos = 0;
  while (pos + kHeaderSize <= out_.size()) {
    const std::size_t next = pos + kHeaderSize + frame_length_at(out_, pos);
    if (next > offset) break;
    pos = next;
  }
  return pos;
}

Peer::Marks Peer::marks() {
  std::lock_guard lock(mu_);
  return Marks{dead_, stop_, broken_, broken_errno_};
}

void Peer::retire() {
  std::lock_guard lock(mu_);
  retired_ = true;
}

void Peer::send_last_words(ByteView goodbye) {
  std::lock_guard lock(mu_);
  dead_ = true;
  if (fd_ < 0 || broken_) return;
  Bytes tail;
  if (tls_) {
    // A record cannot be cut short: all that is queued, then the goodbye.
    tail.assign(out_.begin() + static_cast<std::ptrdiff_t>(sent_), out_.end());
    if (tls_->encrypt(goodbye)) tls_->take_output(tail);
  } else {
    const std::size_t start = frame_start_at_or_before(sent_);
    std::size_t end = sent_;
    if (start < sent_ && start + kHeaderSize <= out_.size()) {
      end = std::min(out_.size(), start + kHeaderSize + frame_length_at(out_, start));
    }
    tail.assign(out_.begin() + static_cast<std::ptrdiff_t>(sent_),
                out_.begin() + static_cast<std::ptrdiff_t>(end));
    tail.insert(tail.end(), goodbye.begin(), goodbye.end());
  }
  net::send_some(fd_, tail.data(), tail.size());
  Bytes().swap(out_);
  sent_ = 0;
  queued_.store(0, std::memory_order_relaxed);
}

void Peer::close() {
  std::lock_guard lock(mu_);
  owned_ = false;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  Bytes().swap(out_);
  sent_ = 0;
  queued_.store(0, std::memory_order_relaxed);
}

void Peer::release_idle_memory() {
  std::lock_guard lock(mu_);
  Bytes().swap(cipher_);
  if (sent_ == out_.size()) {
    Bytes().swap(out_);
    sent_ = 0;
  }
}

// --- TLS ------------------------------------------------------------------

tls::TlsSession::Input Peer::tls_input(ByteView cipher, FrameDecoder& plain, std::string& why) {
  std::lock_guard lock(mu_);
  const tls::TlsSession::Input r = tls_->feed(cipher, plain);
  if (r == tls::TlsSession::Input::Failed) why = tls_->why();
  send_tls_output_locked();
  return r;
}

bool Peer::tls_established() {
  std::lock_guard lock(mu_);
  return tls_ && tls_->established();
}

std::string Peer::tls_describe() {
  std::lock_guard lock(mu_);
  return tls_ ? tls_->describe() : std::string("plaintext");
}

void Peer::tls_close() {
  std::lock_guard lock(mu_);
  if (!tls_) return;
  tls_->close_notify();
  send_tls_output_locked();
}

// What the session wrote on its own (handshake messages, tickets, a
// KeyUpdate, alerts, close_notify) goes out like frames do; it is drained
// even when nothing may be sent any more, so it does not pile up.
void Peer::send_tls_output_locked() {
  cipher_.clear();
  tls_->take_output(cipher_);
  if (fd_ >= 0 && !broken_ && !dead_) enqueue_locked(cipher_);
}

}  // namespace sc::server
