// One client connection and the thread that serves it.
//
// The connection thread is the only thread that reads or closes the socket.
// It sleeps in ppoll() on the socket, with a timeout from its nearest
// deadline (idle timeout, its own pending SENDs, releasing idle buffers, the
// end of a goodbye); other threads end that sleep with a signal (see
// peer.hpp) when it must wait for POLLOUT or close.  Per turn it reads
// everything available (up to a fairness budget), answers every complete
// request into one output buffer and writes the lot with one send() through
// its Peer, which other threads also write through.
//
// A TLS connection first does its handshake (handshake(), bounded by the
// idle timeout) and only then joins: HELLO, LIST and JOINED come after it.
// One the server turns away never joins: after a shorter handshake it only
// says ERROR and closes (refuse_after_handshake()).
// Its thread recv()s ciphertext without the Peer's lock and hands it to the
// Peer, which decrypts it under the lock into the same FrameDecoder.
//
// When the server requires sign-in, a client joins (LIST, JOINED) only on
// its successful AUTH.  A failed AUTH holds that connection alone: its
// thread stops reading and answering it until the fixed delay has passed
// (a deadline of its own loop, like the others, so it still obeys a
// shutdown), then answers AUTH_FAILED and goes on with what was buffered.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec.hpp"
#include "common/net.hpp"
#include "server/delivery.hpp"
#include "server/registry.hpp"
#include "server/shared.hpp"
#include "server/tls.hpp"
#include "server/token_bucket.hpp"

namespace sc::server {

// What a request costs against --max-request-rate (handlers.cpp).
double request_cost(const Frame& f);

// Answers a settled SEND through its sender's Peer, or through the
// sender's node when it is another node's client (handlers.cpp).
void settle_ok(Shared& sh, const Pending& p);
void settle_failed(Shared& sh, const Pending& p, std::string_view why);

class Connection {
 public:
  // Takes ownership of the connected, non-blocking socket `fd`; `tls` is
  // the session of a client of the TLS listener, null for plaintext.
  Connection(Shared& shared, int fd, const Entry& entry,
             std::unique_ptr<tls::TlsSession> tls = nullptr);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Main thread.  Starts the thread with a small explicit stack; false (and
  // nothing started) when the thread cannot be created.
  bool start();
  void join();
  void request_stop() { peer_->request_stop(); }
  // Main thread, when start() failed: closes the socket.
  void abandon();
  // Main thread, before start(), on a TLS client the server turns away
  // (Server::refuse_over_tls): the thread only completes the handshake
  // (within 5 s, see handshake_limit()), sends this ERROR, close_notify, and
  // closes, with the goodbye every connection has.  Such a
  // connection never joins, so nobody knows it, and it was never counted
  // in Shared::clients: leave() must not uncount it.
  void refuse_after_handshake(Status status, std::string text) {
    refusal_status_ = status;
    refusal_text_ = std::move(text);
    refusing_ = true;
    left_ = true;
  }
  std::uint32_t id() const { return peer_->id(); }
  const Addr& addr() const { return peer_->entry().addr; }

 private:
  enum class Phase {
    Open,      // serving requests
    Flushing,  // said goodbye; sending what is left
    Draining,  // sent FIN; discarding input until EOF so close() sends no RST
    Done,
  };

  static void* thread_main(void* self);
  void run();
  bool handshake();
  std::chrono::seconds handshake_limit() const;
  void refuse();
  void join_server();
  void turn();
  void serve(bool readable, bool writable);
  void flush_goodbye();
  short poll_events() const;
  int poll_timeout_ms() const;

  // Input.
  net::IoResult receive(std::size_t want);
  void read_requests();
  void dispatch_frames();
  void handle_request(const Frame& f);
  void handle_violation(DecodeResult r, const Header& partial);

  // Handlers (handlers.cpp), one per request type.
  void on_time(const Frame& f);
  void on_name(const Frame& f);
  void on_list(const Frame& f);
  void on_send(const Frame& f);
  void on_ping(const Frame& f);
  void on_nick(const Frame& f);
  void on_ack(const Frame& f);
  void on_subscribe(const Frame& f);
  void on_bye(const Frame& f);
  void on_auth(const Frame& f);
  void check_password(const Header& h, const AuthRequest& req);
  bool sign_in_required() const;
  bool refused_before_sign_in(const Header& h);
  void fail_sign_in(const Header& req, std::string_view account);
  void end_sign_in_delay();
  void complete_sign_in(const Header& req, const std::string& account);
  bool nick_reserved(const std::string& key) const;
  bool require_empty(const Frame& f);
  bool charge(const Frame& f);
  void fail_undelivered(const Pending& p, std::string_view why);
  void send_remote(const Pending& p);
  // Tells our subscribers, and the other nodes in a cluster.
  void announce(PresenceEvent event, LeaveReason reason);

  // Output.
  void respond_ok(const Header& req, ByteView payload = {});
  void respond_error(const Header& req, Status status, std::string_view text);
  void indicate(Type type, Status status, std::string_view text);
  void obey_marks();
  void flush();
  std::uint64_t unsent() const { return out_.size() + peer_->queued(); }
  bool backed_up() const;

  // Deadlines.
  void check_deadlines();
  void expire_deliveries();
  void release_idle_memory();

  // Ending.
  void close_gracefully(LeaveReason reason);
  void close_now(LeaveReason reason);
  void leave(LeaveReason reason);
  void drop_for_sendq();
  void hurry_goodbye();
  void begin_drain();
  void drain_input();
  void finish();

  Shared& sh_;
  int fd_;
  std::shared_ptr<Peer> peer_;
  pthread_t thread_{};
  bool started_ = false;

  FrameDecoder decoder_;
  std::size_t recv_chunk_;
  bool skipping_ = false;  // discarding the payload of a TOO_LARGE request
  bool eof_ = false;
  int first_byte_ = -1;    // plaintext: the first byte received, for the log
  Bytes cipher_in_;        // TLS: what recv() returned, before decryption
  bool tls_closed_ = false;  // TLS: the client sent close_notify

  Bytes out_;              // this turn's frames for our client
  Bytes scratch_;          // frames being built for other clients
  sigset_t wait_mask_;     // the thread's signal mask without SIGURG

  Phase phase_ = Phase::Open;
  bool greeted_ = false;  // HELLO sent (a TLS client: after its handshake)
  bool joined_ = false;   // in the registry: after HELLO, or after AUTH if required
  bool left_ = false;
  bool refusing_ = false;  // see refuse_after_handshake()
  Status refusal_status_ = Status::Ok;
  std::string refusal_text_;
  LeaveReason reason_ = LeaveReason::Closed;
  Clock::time_point now_;
  Clock::time_point last_frame_;     // idle deadline = last_frame_ + idle timeout
  Clock::time_point close_deadline_;
  Clock::time_point release_at_;     // buffers are released when idle until then
  bool release_armed_ = false;

  // Deadlines of this client's own pending SENDs, in send order (the delivery
  // timeout is the same for all, so they are sorted); head_ is the first live.
  std::vector<Pending> sends_;
  std::size_t sends_head_ = 0;

  // Rate limits (see sockchatd(8) LIMITS): SENDs (a token per started KiB
  // of text), every request's cost, and nick changes.
  TokenBucket send_bucket_;
  TokenBucket request_bucket_;
  TokenBucket nick_bucket_;
  // Our output reached soft_sendq(): requests are neither read nor answered
  // until the client has taken enough of it.
  bool paused_ = false;

  // Sign-in.  While delayed_ the connection is neither read nor answered
  // until delay_until_, when failed_auth_ gets its AUTH_FAILED.
  bool signed_in_ = false;
  int auth_failures_ = 0;
  bool delayed_ = false;
  Clock::time_point delay_until_;
  Header failed_auth_;

  // TIME: localtime_r() once per second at most, not once per request.
  std::int64_t zone_second_ = -1;
  std::int32_t zone_offset_ = 0;
  std::string zone_name_;
};

}  // namespace sc::server
