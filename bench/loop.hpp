// One load-generator thread: an epoll loop over many non-blocking client
// connections.  The loop owns connecting, the HELLO, reading into each
// connection's FrameDecoder, writing each connection's output with one
// send() per turn, and heartbeats; a mode (time, send, connect) derives from
// it and decides what to request and how to check every frame.
//
// Threads: each Loop runs on its own thread and touches only its own
// connections.  The main thread steers all loops through Control (phases)
// and reads their progress counters; everything else is read after join().
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/histogram.hpp"
#include "common/codec.hpp"
#include "common/tls_session.hpp"

namespace sc::bench {

using Clock = std::chrono::steady_clock;

enum Phase : int {
  kConnecting,  // loops open their connections and wait for HELLO
  kRunning,     // modes issue requests
  kDraining,    // no new requests; wait for the answers still owed
  kClosing,     // close every connection and return
};

// Written by the main thread (phase) and the loops (counters).
struct Control {
  std::atomic<int> phase{kConnecting};
  std::atomic<int> ready{0};    // loops with every connection greeted
  std::atomic<int> failed{0};   // loops that could not set up
  std::atomic<int> drained{0};  // loops done draining
};

// Anything that makes a run's result untrustworthy.
struct Errors {
  std::uint64_t lost = 0;          // requests or messages never answered
  std::uint64_t duplicated = 0;    // answered or delivered twice
  std::uint64_t wrong = 0;         // bad kind/type/status/payload/order
  std::uint64_t disconnected = 0;  // connections the server closed
  void merge(const Errors& o);
  std::uint64_t total() const { return lost + duplicated + wrong + disconnected; }
};

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

struct Target {
  std::vector<Address> nodes;  // one per --host, in the order given
  SSL_CTX* tls = nullptr;  // --tls: every connection speaks TLS (bench/tls.hpp)
};

struct Conn {
  int fd = -1;
  bool connecting = false;
  bool greeted = false;
  bool want_out = false;  // EPOLLOUT is registered
  FrameDecoder decoder{Role::Client, kMaxServerPayload};
  Bytes out;               // frames to send (plaintext)
  std::size_t sent = 0;    // of wire(): what went out already
  std::unique_ptr<tls::TlsSession> tls;  // --tls only
  Bytes cipher;            // --tls: `out` encrypted, waiting for send()
  Bytes& wire() { return tls ? cipher : out; }
  Hello hello;
  Clock::time_point last_send;
};

class Loop {
 public:
  Loop(const Target& target, Control& ctl, int connections);
  virtual ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Thread body: connect, run the phases the main thread sets, close.
  void run();

  // Read by the main thread while running: completed operations.
  std::uint64_t progress() const { return progress_.load(std::memory_order_relaxed); }
  // After join().
  const Errors& errors() const { return errors_; }
  const Histogram& latency() const { return latency_; }
  const std::string& setup_error() const { return setup_error_; }
  std::uint64_t completed_in_window() const { return in_window_; }
  std::vector<std::uint32_t> client_ids() const;

 protected:
  // Mode hooks.  on_frame gets every frame after HELLO except the answers to
  // the loop's own heartbeat PINGs.
  virtual void on_start(Clock::time_point now) = 0;
  virtual void on_frame(std::size_t i, const Frame& f, Clock::time_point now) = 0;
  virtual bool drained() const = 0;
  // Called once draining ends: count what is still owed as lost.
  virtual void on_finish() {}
  // Which of target.nodes connection i goes to: round-robin by default.
  virtual std::size_t node_of(std::size_t i) const { return i % nodes(); }

  std::size_t nodes() const { return target_.nodes.size(); }
  bool running() const { return phase_ == kRunning; }
  Conn& conn(std::size_t i) { return conns_[i]; }
  std::size_t size() const { return conns_.size(); }
  void flush(std::size_t i);
  // One operation completed (a response, a delivered message).
  void count_completed() {
    progress_.store(progress_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (phase_ == kRunning) ++in_window_;
  }

  Errors errors_;
  Histogram latency_;

 private:
  bool connect_all();
  bool open_conn(std::size_t i);
  void watch(std::size_t i, bool want_out);
  void poll_once(int timeout_ms);
  void handle_event(std::size_t i, std::uint32_t events);
  void finish_connect(std::size_t i);
  bool tls_in(std::size_t i, ByteView cipher);
  void read_conn(std::size_t i);
  void dispatch(std::size_t i, const Frame& f, Clock::time_point now);
  void greet(std::size_t i, const Frame& f);
  void drop(std::size_t i, const char* why);
  void send_heartbeats(Clock::time_point now);
  void wait_phase(int phase);
  void drain();
  void close_all();

  const Target target_;
  Control& ctl_;
  int epfd_ = -1;
  int phase_ = kConnecting;
  std::vector<Conn> conns_;
  std::size_t greeted_ = 0;
  std::size_t connecting_ = 0;
  std::string setup_error_;
  std::uint64_t in_window_ = 0;
  std::uint32_t ping_id_ = 0;
  std::array<std::uint8_t, 64 * 1024> rbuf_;  // every recv() lands here first
  Clock::time_point next_heartbeat_check_;
  alignas(64) std::atomic<std::uint64_t> progress_{0};
};

}  // namespace sc::bench
