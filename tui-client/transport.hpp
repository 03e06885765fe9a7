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

// What the receiver hands to the UI: the outcome of connecting, one frame
// (owning its payload), or the end of the connection with a reason.
struct Incoming {
  enum class What : std::uint8_t { Connected, Failed, Frame, Closed } what = What::Frame;
  Header header;
  Bytes payload;
  std::string why;  // Failed, Closed: "connection refused", ...
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
  // Never blocks.
  virtual WriteResult write_some(const std::uint8_t* data, std::size_t len) = 0;
  // Idempotent; no events are delivered after it.
  virtual void close() = 0;
  // "127.0.0.1:2555", as asked for.
  virtual const std::string& peer_text() const = 0;
};

// Starts connecting; the outcome arrives as a Connected or Failed event.
// nullptr with err set when not even that could start.
using Connector =
    std::function<std::unique_ptr<Transport>(const std::string& host, const std::string& port, std::string& err)>;

}  // namespace sc::tui
