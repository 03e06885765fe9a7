#include "server/peer.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
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

Peer::Peer(const Entry& entry, int fd, std::uint64_t sendq)
    : entry_(entry), sendq_(sendq), fd_(fd) {}

bool Peer::post(ByteView frames) {
  std::lock_guard lock(mu_);
  if (retired_ || dead_ || broken_ || fd_ < 0) return false;
  if (out_.size() - sent_ + frames.size() > sendq_) {
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
  out_.assign(frames.begin(), frames.end());
  sent_ = 0;
  queued_.store(out_.size(), std::memory_order_relaxed);
}

void Peer::write(ByteView frames) {
  std::lock_guard lock(mu_);
  write_locked(frames);
}

void Peer::flush() {
  std::lock_guard lock(mu_);
  flush_locked();
}

// Frames queued behind others wait their turn; otherwise they go straight
// to the kernel, and only what it does not take is queued (whole frames are
// kept so that out_ still starts at a frame boundary).
void Peer::write_locked(ByteView frames) {
  if (fd_ < 0 || broken_ || dead_ || frames.empty()) return;
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

std::size_t Peer::frame_start_at_or_before(std::size_t offset) const {
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
  const std::size_t start = frame_start_at_or_before(sent_);
  std::size_t end = sent_;
  if (start < sent_ && start + kHeaderSize <= out_.size()) {
    end = std::min(out_.size(), start + kHeaderSize + frame_length_at(out_, start));
  }
  Bytes tail(out_.begin() + static_cast<std::ptrdiff_t>(sent_),
             out_.begin() + static_cast<std::ptrdiff_t>(end));
  tail.insert(tail.end(), goodbye.begin(), goodbye.end());
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
  if (sent_ == out_.size()) {
    Bytes().swap(out_);
    sent_ = 0;
  }
}

}  // namespace sc::server
