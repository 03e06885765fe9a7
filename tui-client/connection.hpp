// One TCP connection to sockchatd: the socket, its receiver thread and the
// queue between them.
//
// Threads and ownership:
//  - the receiver thread first connects: getaddrinfo() (which blocks and
//    cannot be interrupted) and a non-blocking connect() per address that
//    close() can cut short.  It reports Connected or Failed through the
//    queue, so the UI keeps painting and taking keys meanwhile.
//  - then the receiver thread owns recv() and the FrameDecoder.  It is the
//    PRODUCER of queue_: it pushes every decoded frame (and finally one
//    Closed event) and then signals wake_fd().
//  - the UI thread (whoever calls any public member) is the CONSUMER of
//    queue_, and the only thread that send()s on the socket, always with
//    MSG_DONTWAIT: the Session buffers what the kernel does not take.  After draining
//    it signals space_fd_, on which a receiver facing a full queue waits:
//    frames are never dropped, the receiver just stops reading and TCP flow
//    control pushes back on the server.
//  - close() (and the destructor) shut the socket down, which ends a blocked
//    recv() or connect wait, and join the receiver.  No detach, no
//    cancellation; a getaddrinfo() in progress is waited for.
//  - TLS (when started with a TlsClient): the receiver does the handshake
//    over the still-private socket, judges the server's certificate, and
//    may queue a Question and wait for answer() before it queues Connected.
//    From then on both threads use the one SSL: the receiver feeds it what
//    recv() returned, the UI encrypts into it in write_some().  OpenSSL
//    forbids using one SSL from two threads at once, so every call into
//    tls_ and every touch of cipher_out_ (ciphertext waiting for the
//    kernel) happens under tls_mu_, and nothing else is done under it but
//    a non-blocking send().  Ciphertext the receiver makes (a KeyUpdate
//    answer) that the kernel does not take at once waits in cipher_out_;
//    the receiver then signals wake_fd() so the UI polls for POLLOUT.
//  - fd_ is written by the receiver once connected and read by close(): both
//    sides go through seq_cst atomics (fd_ then stopping_ on one side,
//    stopping_ then fd_ on the other), so either close() sees the socket and
//    shuts it down or the receiver sees stopping_ and never recv()s.  The UI
//    send()s only after it took the Connected event from the queue.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <mutex>

#include "common/codec.hpp"
#include "common/spsc_queue.hpp"
#include "common/tls_session.hpp"
#include "tls_client.hpp"
#include "transport.hpp"

namespace sc::tui {

class Connection final : public Transport {
 public:
  // Starts the receiver, which connects (at most timeout_ms per address),
  // with `tls` speaks TLS, and queues Connected or Failed.  Returns at
  // once; nullptr with a message in err only when the wake fds cannot be
  // made.
  static std::unique_ptr<Connection> start(const std::string& host, const std::string& port, int timeout_ms,
                                           std::shared_ptr<const TlsClient> tls, std::string& err);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int wake_fd() const override { return wake_fd_; }
  int write_fd() const override { return fd_.load(); }
  // Also tells the receiver there is room again.
  bool take(std::vector<Incoming>& out, std::size_t max) override;
  WriteResult write_some(const std::uint8_t* data, std::size_t len) override;
  bool output_waiting() const override;
  WriteResult flush_output() override;
  void answer(bool trust) override;
  void close() override;
  const std::string& peer_text() const override { return peer_text_; }

  Addr local_address() const;

 private:
  Connection(int wake_fd, int space_fd, std::string peer_text, std::shared_ptr<const TlsClient> tls);
  void run(const std::string& host, const std::string& port, int timeout_ms);
  int connect_any(const std::string& host, const std::string& port, int timeout_ms, std::string& err);
  void receive_loop(int fd, FrameDecoder& decoder);
  bool receive_some(int fd, FrameDecoder& decoder, std::string& why);
  bool push(Incoming&& in);
  bool push_outcome(Incoming::What what, std::string why, Security security = {});
  // TLS, on the receiver before Connected.
  bool handshake(int fd, const std::string& host, FrameDecoder& plain, std::string& err);
  bool handshake_step(int fd, ByteView cipher, FrameDecoder& plain, bool& done, std::string& err);
  bool settle_trust(const std::string& host, const std::string& port, Security& sec, std::string& note,
                    std::string& err);
  bool ask(const std::string& question);
  // Under tls_mu_: sends what the kernel takes of cipher_out_ at once.
  WriteResult send_cipher_locked(int fd);
  WriteResult write_tls(int fd, const std::uint8_t* data, std::size_t len);

  std::atomic<int> fd_{-1};
  int wake_fd_;   // receiver -> UI: events queued
  int space_fd_;  // UI -> receiver: queue drained
  std::string peer_text_;
  std::atomic<bool> stopping_{false};
  const std::shared_ptr<const TlsClient> tls_client_;  // null: plaintext
  mutable std::mutex tls_mu_;
  std::unique_ptr<tls::TlsSession> tls_;  // guarded by tls_mu_
  Bytes cipher_out_;                      // guarded by tls_mu_
  std::atomic<int> answer_{0};            // Question: 0 none yet, 1 yes, 2 no
  // Set by the receiver once its handshake sends are over: only then may
  // close() put close_notify on the socket without cutting into them.
  std::atomic<bool> handed_over_{false};
  SpscQueue<Incoming> queue_;
  std::thread receiver_;
};

}  // namespace sc::tui
