// What a Session needs from a connection, and nothing more: events in
// (connect outcome, frames, the end), bytes out without ever blocking.
// Connection implements it over a socket and a receiver thread; the unit
// tests implement it in memory.  Pure: no sockets in this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/codec.hpp"

namespace sc::tui {

// How a connection is protected, for the status line.
struct Security {
  bool tls = false;
  bool loopback = false;  // the peer's address is a loopback address
  std::string protocol;   // TLS: "TLSv1.3 TLS_AES_256_GCM_SHA384"
  // Why the client believes it talks to the right server.  Ca: the chain
  // and host name verified; PinnedKey: --tls-fingerprint; KnownKey: a line
  // of known_servers; NewKey: the user said yes just now.
  enum class Trust : std::uint8_t { None, Ca, PinnedKey, KnownKey, NewKey } trust = Trust::None;
  bool operator==(const Security&) const = default;
};

// "TLSv1.3 TLS_AES_256_GCM_SHA384, verified (CA)", "plaintext (loopback)",
// "PLAINTEXT to non-loopback host".
std::string security_text(const Security& s);

// What the receiver hands to the UI: the outcome of connecting, a question
// for the user, one frame (owning its payload), or the end of the
// connection with a reason.
struct Incoming {
  // Question: the server's key cannot be verified and is unknown; the
  // receiver waits for Transport::answer().
  enum class What : std::uint8_t { Connected, Failed, Question, Frame, Closed } what = What::Frame;
  Header header;
  Bytes payload;
  // Failed, Closed: "connection refused", ...; Question: the question;
  // Connected: a note for the user or empty ("remembered in FILE line 3").
  std::string why;
  Security security;  // Connected
  std::chrono::steady_clock::time_point received;  // when the receiver decoded it
};

// The outcome of one non-blocking write: `bytes` taken (0: the kernel
// buffer is full, try again on POLLOUT), or the connection is broken.
struct WriteResult {
  std::size_t bytes = 0;
  bool broken = false;
  std::string why;  // when broken
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Polled for POLLIN: events are queued.
  virtual int wake_fd() const = 0;
  // Polled for POLLOUT while output waits; -1 until connected.
  virtual int write_fd() const = 0;
  // Moves up to `max` queued events into out.  True when more are queued.
  virtual bool take(std::vector<Incoming>& out, std::size_t max) = 0;
  // Never blocks.  A transport that encrypts takes plaintext and may keep
  // ciphertext of its own: then output_waiting() says so, the loop polls
  // write_fd() for POLLOUT, and flush_output() sends more of it.
  virtual WriteResult write_some(const std::uint8_t* data, std::size_t len) = 0;
  virtual bool output_waiting() const { return false; }
  virtual WriteResult flush_output() { return WriteResult{}; }
  // The user's answer to a Question event.
  virtual void answer(bool /*trust*/) {}
  // Idempotent; no events are delivered after it.
  virtual void close() = 0;
  // "127.0.0.1:2555", as asked for.
  virtual const std::string& peer_text() const = 0;
};

// Starts connecting (with TLS when `tls`); the outcome arrives as a
// Connected or Failed event.  nullptr with err set when not even that could
// start.
using Connector = std::function<std::unique_ptr<Transport>(const std::string& host, const std::string& port,
                                                           bool tls, std::string& err)>;

}  // namespace sc::tui
