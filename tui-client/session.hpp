// The protocol side of the client: one connection's life cycle, the
// requests waiting for answers, ACKs, the heartbeat and idle timers and
// /time batches, behind a Transport.  Pure: no sockets, no curses, no
// threads; time comes from an injected clock, so the unit tests drive it
// with a fake transport and a fake clock.
//
// Output never blocks: frames go into a buffer that is written as far as
// the kernel takes it at once and then whenever the loop sees POLLOUT on
// write_fd() (tmux's evbuffer, hiredis' obuf).  A server that reads
// nothing for kStallLimit loses the connection; the UI keeps painting.
//
// Every handler returns Dirty bits; lines go to the Scrollback, the
// connection's facts to the SessionState that the screen reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/protocol.hpp"
#include "scrollback.hpp"
#include "transport.hpp"

namespace sc::tui {

using Clock = std::chrono::steady_clock;

// Connecting: the receiver resolves and connects; Greeting: connected, the
// server's HELLO not yet in.
enum class Phase : std::uint8_t { Disconnected, Connecting, Greeting, Connected, Closing };

// What the screen shows about the connection.
struct SessionState {
  Phase phase = Phase::Disconnected;
  std::string server;  // "127.0.0.1:2555" while connected or connecting
  Hello hello;         // valid once phase is Connected
  std::string nick;    // our nick as the server knows it
  std::map<std::uint32_t, Entry> clients;
  Security security;         // known once connected
  std::string question;      // Connecting: the receiver waits for a yes or no
  std::string password_for;  // an account whose password the UI should ask for
  std::string account;       // signed in as; the protocol tells no one else's
  // Disconnected, waiting to reconnect by itself: whole seconds left
  // (-1: no reconnect is scheduled) and where to.
  int reconnect_in_s = -1;
  std::string reconnect_to;
  bool connected() const { return phase == Phase::Connected; }
  bool reconnecting() const { return reconnect_in_s >= 0; }
  bool sign_in_required() const { return (hello.flags & kHelloSignInRequired) != 0; }
};

// The line the status bar shows about the connection's protection.
std::string security_status(const SessionState& s);

// "reconnecting to 127.0.0.1:2555 in 4 s"; empty when none is scheduled.
std::string reconnect_status(const SessionState& s);

// Reconnect backoff: attempt 1 waits about 1 s, each further attempt twice
// as long, capped at kReconnectCap.  The jitter (0 <= jitter01 < 1) takes
// up to a quarter off, so clients a restarted server dropped together do
// not all come back in the same instant; it never adds, so the cap holds.
inline constexpr auto kReconnectFirst = std::chrono::seconds(1);
inline constexpr auto kReconnectCap = std::chrono::seconds(60);
std::chrono::milliseconds reconnect_delay(int attempt, double jitter01);

// Words for a failure status, for people: "no such client", "nick in use".
std::string status_word(Status s);

class Session {
 public:
  using Now = std::function<Clock::time_point()>;
  static constexpr auto kStallLimit = std::chrono::seconds(5);
  static constexpr std::size_t kMaxOutput = 16u << 20;  // bytes waiting to be written

  Session(SessionState& state, Scrollback& log, Connector connector, Now now = &Clock::now);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // --plain prints outcomes as lines of their own.
  void set_plain(bool plain) { plain_ = plain; }
  // The nick asked for after each HELLO; empty: stay nickless.
  void set_wanted_nick(std::string nick) { wanted_nick_ = std::move(nick); }
  // Reads a password for an account (--password-file, or a terminal with
  // echo off in --plain); false with `why`.  Without one, the UI asks
  // (password_for in the state) and calls sign_in().
  using PasswordSource = std::function<bool(const std::string& account, std::string& password, std::string& why)>;
  // The account signed in to after each HELLO (--user); empty: none.
  void set_account(std::string account, PasswordSource source) {
    account_ = std::move(account);
    password_source_ = std::move(source);
  }
  // TLS for connect() when the command does not say (--tls).
  void set_tls_default(bool tls) {
    tls_default_ = tls;
    last_port_ = tls ? "2556" : "2555";  // what the Connect prompt offers
  }
  bool tls_default() const { return tls_default_; }
  // Reconnect by itself after a lost connection (off in --plain, where a
  // script sees "connection lost" and decides).
  void set_reconnect(bool on) { reconnect_ = on; }
  // Where the jitter comes from: a value in [0, 1) per delay; tests fix it.
  using Jitter = std::function<double()>;
  void set_jitter(Jitter jitter) { jitter_ = std::move(jitter); }

  // Commands.  The caller checks the phase first (the UI explains refusals).
  unsigned connect(const std::string& host, const std::string& port, bool tls);
  unsigned connect(const std::string& host, const std::string& port) { return connect(host, port, tls_default_); }
  // The user's answer to the question in the state.
  unsigned answer_question(bool trust);
  // /auth NAME: with a PasswordSource it signs in at once, else it sets
  // password_for for the UI.
  unsigned begin_sign_in(const std::string& account);
  // Sends AUTH and wipes `password`.
  unsigned sign_in(const std::string& account, std::string& password);
  unsigned cancel_sign_in();
  // BYE when connected; cancels a connect in progress or a scheduled
  // reconnect (the user's own disconnect is never undone by a reconnect).
  unsigned disconnect();
  unsigned ask_time(int count);
  unsigned ask_name();
  unsigned ask_list();
  unsigned send_message(std::uint32_t target, const std::string& text);
  unsigned ask_nick(const std::string& nick);  // remembered when disconnected
  // Closes the connection at once, adding `line`; kNothing when there is none.
  unsigned drop(const std::string& line, LineKind kind);

  // Loop events.
  unsigned on_ready();                      // wake_fd() is readable
  unsigned on_writable();                   // write_fd() is writable
  unsigned on_tick(Clock::time_point now);  // deadlines
  // ACKs the incoming messages whose lines `shown` says are on screen
  // now (call after painting); the others wait until they are.  A message
  // never shown is never ACKed: its sender learns NOT_DELIVERED.
  using Shown = std::function<bool(std::uint64_t line_seq)>;
  unsigned ack_shown(const Shown& shown);
  std::size_t unshown() const { return unshown_.size(); }

  int wake_fd() const;   // -1 when not connected
  int write_fd() const;  // -1 unless output waits for POLLOUT
  int poll_timeout_ms(Clock::time_point now) const;  // -1: no deadline

  std::size_t outstanding() const { return pending_.size(); }
  std::size_t undelivered() const;  // sent messages without an answer yet
  std::size_t queued_bytes() const { return out_.size() - out_done_; }
  bool connect_failed() const { return connect_failed_; }
  bool take_bell();  // true once after a message arrived
  std::string client_label(std::uint32_t id) const;  // "3 (bob)"
  const std::string& last_host() const { return last_host_; }
  const std::string& last_port() const { return last_port_; }

 private:
  struct Pending {
    Type type = Type::Ping;
    Clock::time_point sent;
    std::uint32_t target = 0;     // Send
    std::uint64_t line_seq = 0;   // Send: the "sending" line
    std::string nick;             // Nick: the one asked for
    bool quiet = false;           // List after HELLO: update the pane only
    bool in_batch = false;        // Time: part of /time N
    std::string account;          // Auth: the account asked for
    std::string sender;           // Ack: who sent the message, for people
  };
  // An incoming message not yet on screen, so not yet ACKed.
  struct Unshown {
    std::uint64_t line_seq = 0;
    std::uint32_t message_id = 0;
    std::string sender;  // "bob", or "client 9" without a nick
  };
  struct TimeBatch {
    bool active = false;
    int asked = 0, answered = 0, failed = 0;
    Clock::time_point start;
    std::vector<double> rtts_ms;
  };

  unsigned add(LineKind kind, std::string text, std::int64_t at_us = 0) {
    return log_.add(kind, std::move(text), at_us);
  }

  // Wire out.
  std::uint32_t next_request_id() { return ++last_id_; }
  bool request(Type type, const Bytes& payload, Pending p);
  bool queue(const Bytes& frames);
  bool flush();

  // Wire in.
  unsigned handle(Incoming& in);
  unsigned on_connect_outcome(const Incoming& in);
  unsigned handle_response(const Incoming& in);
  unsigned handle_indication(const Header& h, ByteView p);
  unsigned on_hello(ByteView p);
  unsigned on_message(const Header& h, ByteView p);
  unsigned on_presence(ByteView p);
  unsigned on_time(const Pending& pd, const Incoming& in);
  unsigned on_list(const Pending& pd, const Header& h, ByteView p);
  unsigned on_send_result(const Pending& pd, const Header& h, ByteView p);
  unsigned on_nick_result(const Pending& pd, const Header& h, ByteView p);
  unsigned on_auth_result(const Pending& pd, const Header& h, ByteView p);
  unsigned on_ack_result(const Pending& pd, const Header& h, ByteView p);
  unsigned after_hello_requests();
  // Reconnect (session_reconnect.cpp).
  unsigned lose(const std::string& line);
  bool may_reconnect() const;
  unsigned schedule_reconnect();
  unsigned cancel_reconnect();
  unsigned reconnect_tick(Clock::time_point now);
  int reconnect_timeout_ms(Clock::time_point now) const;
  unsigned open(const std::string& host, const std::string& port, bool tls);
  unsigned on_question(const Incoming& in);
  unsigned finish_batch(const char* why);
  std::string error_text(const Header& h, ByteView p) const;

  SessionState& s_;
  Scrollback& log_;
  Connector connector_;
  Now now_;
  bool plain_ = false;
  std::string wanted_nick_;
  std::string account_;
  PasswordSource password_source_;
  bool tls_default_ = false;
  bool secret_out_ = false;   // out_ held a password: wipe it once written
  bool subscribed_ = false;   // SUBSCRIBE and LIST sent on this connection

  std::unique_ptr<Transport> conn_;
  std::uint32_t last_id_ = 0;
  std::unordered_map<std::uint32_t, Pending> pending_;
  TimeBatch batch_;
  std::vector<Unshown> unshown_;  // oldest first
  Bytes out_;                 // frames not yet taken by the kernel
  std::size_t out_done_ = 0;  // of out_, written already
  Clock::time_point last_sent_, last_received_, closing_since_, last_progress_;
  bool events_waiting_ = false;
  bool bell_ = false;
  bool connect_failed_ = false;
  std::string farewell_;  // why the server said it will close, if it did
  std::string last_host_ = "127.0.0.1", last_port_ = "2555";

  // Reconnect.  greeted_: this connection got its HELLO; fatal_: the
  // server refused us in a way a retry would only repeat (a bad HELLO, a
  // failed sign-in, an ERROR that is not about load or idleness).
  bool reconnect_ = false;
  Jitter jitter_;
  bool last_tls_ = false;
  bool greeted_ = false;
  bool fatal_ = false;
  int attempts_ = 0;  // reconnect attempts since the last greeting
  Clock::time_point reconnect_at_;
  std::string resume_account_;  // signed in to with /auth: asked for again
};

}  // namespace sc::tui
