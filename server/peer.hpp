// One client's shared half: its socket's write side and output queue, and
// the marks other threads leave for its connection thread.
//
// Any thread may write whole frames to a client (its own connection thread
// answering requests, another client's thread forwarding a MESSAGE or an OK,
// anyone publishing PRESENCE): under the peer's lock the frames go straight
// to the socket with a non-blocking send() when nothing is queued before
// them, and whatever the kernel does not take is queued.  The lock is held
// across that send() on purpose: it is what keeps frames written by
// different threads from interleaving on the stream, and the socket is
// non-blocking, so nobody waits longer than one syscall.  So forwarding a
// message costs no thread wake-up at all; the connection thread is only
// woken (a signal, see below) when the queue becomes non-empty, to wait for
// POLLOUT, or when it must close.  Reading and closing the socket stay with
// the connection thread alone.
//
// Waking uses SIGURG sent to the connection thread with pthread_kill(): the
// thread keeps SIGURG blocked except inside ppoll(), so a wake-up sent while
// it is busy stays pending and ends its next ppoll() at once, and no wake
// fd per client is needed (one fd per client: 10,000 clients fit in a
// 20,000 fd limit).  SIGURG is ignored by default and the kernel only
// raises it for sockets with an owner (F_SETOWN), which sockchatd never
// sets.
//
// A TLS client's Peer also owns its TlsSession, and every use of it happens
// under the lock (OpenSSL forbids using one SSL from two threads at once):
// writers encrypt their frames and send the ciphertext, the owner feeds in
// what its recv() returned and sends what OpenSSL answers (handshake,
// tickets, KeyUpdate).  The queue then holds ciphertext, so --sendq counts
// encrypted bytes (new frames at their plaintext size: fits_locked()).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/codec.hpp"
#include "server/tls.hpp"

namespace sc::server {

// Installs the (empty) SIGURG handler; once, before any connection thread.
bool install_wake_handler();

class Peer {
 public:
  // `tls`: the session of a TLS client, null for plaintext.
  Peer(const Entry& entry, int fd, std::uint64_t sendq,
       std::unique_ptr<tls::TlsSession> tls = nullptr);
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::uint32_t id() const { return entry_.id; }
  // The nick inside is written only by the owning connection thread, under
  // Registry's lock: that thread may read it without the lock, others must
  // hold it.
  const Entry& entry() const { return entry_; }

  // Any thread but the owner.  Writes `frames` (whole frames) to the client.
  // False when the client has left or is being dropped; when the frames would
  // take its queue past --sendq, the client is marked dead (SENDQ_EXCEEDED)
  // and its thread woken to close it.
  bool post(ByteView frames);
  // Any thread: asks the owner to send SHUTDOWN and close.
  void request_stop();

  // --- Owner only -------------------------------------------------------
  // First thing on the connection thread: SIGURG must already be blocked.
  void set_owner(pthread_t self);
  // Queues the first frames (HELLO) without sending them yet: the owner
  // publishes the peer, then flush()es, so the client cannot see its HELLO
  // before it is in LIST, and whatever others post meanwhile queues behind.
  void queue_first(ByteView frames);
  // Writes the owner's own frames (also after retire(): goodbyes).
  void write(ByteView frames);
  // The same within --sendq: false, writing nothing, when the frames would
  // take the queue past it (the client is not reading its answers).
  bool write_within_sendq(ByteView frames);
  // Sends queued bytes; call when poll() reported POLLOUT.
  void flush();
  std::size_t queued() const { return queued_.load(std::memory_order_relaxed); }

  // TLS (owner only, on a TLS client's Peer).
  bool tls() const { return tls_ != nullptr; }
  // Feeds ciphertext from recv() to the session, appends the plaintext to
  // `plain`, and sends whatever the session must answer.  On Failed, `why`
  // says why (an alert may be on its way to the client).
  tls::TlsSession::Input tls_input(ByteView cipher, FrameDecoder& plain, std::string& why);
  bool tls_established();
  std::string tls_describe();
  // Queues close_notify behind everything else and tries to send it.
  void tls_close();

  struct Marks {
    bool dead = false;    // queue past --sendq: close now
    bool stop = false;    // server shutdown: say goodbye and close
    bool broken = false;  // a send() failed (reset, broken pipe): close now
    int err = 0;          // errno of that send()
  };
  Marks marks();
  // The client left: no more posts (request_stop() still wakes the owner,
  // which may be busy saying goodbye).
  void retire();
  // SENDQ_EXCEEDED: one best-effort non-blocking send of the rest of the
  // frame in flight and `goodbye`, then nothing is sent any more.
  void send_last_words(ByteView goodbye);
  // The owner ends: closes the socket; no thread touches it or signals the
  // owner after this.
  void close();
  void release_idle_memory();

 private:
  void write_locked(ByteView frames);
  void enqueue_locked(ByteView bytes);
  bool encrypt_locked(ByteView frames);
  void send_tls_output_locked();
  bool fits_locked(ByteView frames) const;
  void make_room_locked(std::size_t more);
  void flush_locked();
  void wake_locked();
  std::size_t frame_start_at_or_before(std::size_t offset) const;

  friend class Registry;
  Entry entry_;
  const std::uint64_t sendq_;
  std::atomic<std::size_t> queued_{0};  // out_.size() - sent_, for poll()

  mutable std::mutex mu_;  // guards everything below
  int fd_;
  pthread_t owner_{};
  bool owned_ = false;     // owner_ is valid and may be signalled
  Bytes out_;              // queued frames; out_[0] starts a frame
  std::size_t sent_ = 0;   // bytes of out_ the kernel has taken
  bool retired_ = false;
  bool dead_ = false;
  bool stop_ = false;
  bool broken_ = false;
  int broken_errno_ = 0;
  // TLS: the session, and ciphertext on its way from it to the queue.  The
  // queue then holds no frame boundaries.
  const std::unique_ptr<tls::TlsSession> tls_;
  Bytes cipher_;
};

}  // namespace sc::server
