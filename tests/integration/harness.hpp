// Integration test harness: starts the real sockchatd and talks to it over
// raw sockets through common/.
//
// Server: fork/exec of the binary named by $SOCKCHATD with --port 0
// --port-file in a private temp dir; the destructor stops it (SIGTERM, then
// SIGKILL after a bound) and reaps it, so no test leaves a process behind,
// whichever way it ends.  A server that does not exit 0 on that SIGTERM
// (crash, sanitizer report, hang) is reported and fails the test binary.
//
// Client: one TCP connection with a client-side FrameDecoder.  Frames that
// arrive while a test waits for something else are kept in a backlog, so
// "the response to id 7" and "the next PRESENCE" can be asked in any order.
// Every wait is bounded; a missed expectation throws, which doctest reports
// as a failure of the running test case.
//
// A case that cannot run here (no ::1, no way to read what it checks) never
// logs and returns: it calls sc::testing::skip(why) from tests/lib/skip.hpp,
// and main() exits 77, which meson reports as SKIP.  Such a case has a
// binary of its own (test_ipv6.cpp, faults/test_keepalive.cpp), so that a
// skip hides no other case's result.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/codec.hpp"

namespace sc::itest {

using Ms = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Generous bounds: sanitizer builds on a shared 2-core machine are slow.
inline constexpr Ms kWait{5000};   // for anything that should come at once
inline constexpr Ms kQuiet{300};   // how long we watch that nothing arrives

std::int64_t now_us();  // wall clock, µs since the epoch
double seconds_since(Clock::time_point t);

// Number of servers that did not end cleanly; main() fails when nonzero.
int server_failures();

struct ServerOptions {
  std::vector<std::string> args;  // extra sockchatd options
  // --bind; empty: the server's default (every address).  Clients of a
  // server on every address connect to 127.0.0.1.
  std::string bind = "127.0.0.1";
  std::vector<std::string> env;   // extra NAME=VALUE entries for the server
};

class Server {
 public:
  explicit Server(ServerOptions opts);
  Server(std::initializer_list<std::string> args = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  void signal(int sig) const;
  // Waits for the process to exit, at most `bound`.  Returns its wait status
  // (the caller owns judging it from then on), or nullopt if still running.
  std::optional<int> wait_exit(Ms bound);
  bool running();
  std::string log() const;

 private:
  void spawn(const ServerOptions& opts);
  void wait_for_port();
  void stop_and_judge();

  std::string host_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A frame copied out of the decoder, so it outlives the next read.
struct OwnedFrame {
  Header header;
  Bytes payload;

  Kind kind() const { return static_cast<Kind>(header.kind); }
  Type type() const { return static_cast<Type>(header.type); }
  Status status() const { return static_cast<Status>(header.status); }
  std::uint32_t id() const { return header.id; }
  ByteView view() const { return ByteView(payload.data(), payload.size()); }
  std::string text() const { return std::string(payload.begin(), payload.end()); }
  std::string describe() const;  // "RESPONSE TIME status OK id 3 len 13"
};

struct ClientOptions {
  ClientOptions(int rcvbuf_ = 0, bool read_hello_ = true, std::string source_ = {})
      : rcvbuf(rcvbuf_), read_hello(read_hello_), source(std::move(source_)) {}
  int rcvbuf = 0;          // SO_RCVBUF before connect (0: kernel default)
  bool read_hello = true;  // wait for HELLO in the constructor
  std::string source;      // IPv4 source address to bind, e.g. "127.0.0.5"
};

// A blocking TCP connect to a numeric address with `o`'s receive buffer and
// source address (its read_hello is Client's business); throws on failure.
int connect_with(const std::string& host, std::uint16_t port, const ClientOptions& o);

class Client {
 public:
  explicit Client(const Server& s, ClientOptions o = {});
  Client(const std::string& host, std::uint16_t port, ClientOptions o = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  int fd() const { return fd_; }
  const Hello& hello() const { return hello_; }
  std::uint32_t id() const { return hello_.client_id; }
  void read_hello(Ms timeout = kWait);

  // Sends all bytes within a bound; throws on failure.  try_send returns
  // false instead (for peers we expect to be closed).
  void send_raw(ByteView bytes);
  bool try_send(ByteView bytes, Ms bound = kWait);
  void close();  // closes the socket now (the destructor does it otherwise)

  // Appends a request with the next id to `out` and returns that id.
  std::uint32_t add_request(Bytes& out, std::uint8_t type, ByteView payload = {});
  std::uint32_t add_request(Bytes& out, Type type, ByteView payload = {});
  // Sends one request at once and returns its id.
  std::uint32_t request(Type type, ByteView payload = {});
  std::uint32_t request(std::uint8_t type, ByteView payload = {});
  // request() + response() in one.
  OwnedFrame call(Type type, ByteView payload = {}, Ms timeout = kWait);

  // The next frame in arrival order (backlog first); nullopt at timeout or EOF.
  std::optional<OwnedFrame> next_frame(Ms timeout);
  // The response with this id; throws at timeout or EOF.
  OwnedFrame response(std::uint32_t id, Ms timeout = kWait);
  std::optional<OwnedFrame> try_response(std::uint32_t id, Ms timeout);
  // The first indication of this type; throws at timeout or EOF.
  OwnedFrame indication(Type type, Ms timeout = kWait);
  std::optional<OwnedFrame> try_indication(Type type, Ms timeout);
  // Reads (keeping frames in the backlog) until the server closes the
  // connection; false if it is still open after `timeout`.
  bool wait_closed(Ms timeout = kWait);
  bool eof() const { return eof_; }
  // The first frame (backlog first) for which match() is true; the others
  // stay in the backlog.  nullopt at timeout or EOF.
  using Match = std::function<bool(const OwnedFrame&)>;
  std::optional<OwnedFrame> take_if(const Match& match, Ms timeout);
  // Frames received but not yet taken.
  const std::deque<OwnedFrame>& backlog() const { return backlog_; }

 private:
  enum class Read : std::uint8_t { Frame, Timeout, Closed };
  Read read_frame(Clock::time_point deadline, OwnedFrame& out);
  bool fill(Clock::time_point deadline);

  int fd_ = -1;
  FrameDecoder dec_;
  std::deque<OwnedFrame> backlog_;
  bool eof_ = false;
  std::uint32_t next_id_ = 1;
  Hello hello_;
};

// Shared by Client and other clients of the tests (the TLS one): the first
// frame of `backlog` that `match` accepts, taken out of it; and the next
// complete frame of `dec` (false: it needs more bytes; throws on a frame
// the server should never send).
std::optional<OwnedFrame> take_from_backlog(std::deque<OwnedFrame>& backlog,
                                            const std::function<bool(const OwnedFrame&)>& match);
bool decode_frame(FrameDecoder& dec, OwnedFrame& out);

// Payload builders.
Bytes u8_payload(std::uint8_t v);
Bytes u32_payload(std::uint32_t v);
Bytes text_payload(std::string_view s);
Bytes send_payload(std::uint32_t target, std::string_view text);
inline ByteView view(const Bytes& b) { return ByteView(b.data(), b.size()); }

// A raw frame with every header byte under the caller's control.
Bytes raw_frame(std::uint8_t kind, std::uint8_t type, std::uint32_t id, ByteView payload,
                std::uint8_t version = kVersion);

// Typed decoders that throw on a malformed payload (a server bug).
Hello as_hello(const OwnedFrame& f);
TimeReply as_time(const OwnedFrame& f);
std::vector<Entry> as_list(const OwnedFrame& f);
Message as_message(const OwnedFrame& f);
Presence as_presence(const OwnedFrame& f);
NotDelivered as_not_delivered(const OwnedFrame& f);
std::uint32_t as_u32(const OwnedFrame& f);

// The first PRESENCE in `c` with this event and client id (other frames stay
// in the backlog); throws at timeout.
Presence presence_of(Client& c, PresenceEvent ev, std::uint32_t who, Ms timeout = kWait);

// Address the server should report for this socket's local end.
Addr local_addr_of(int fd);

}  // namespace sc::itest
