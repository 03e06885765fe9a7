// The client's state and every handler that changes it.
//
// Handlers (keys, input lines, frames from the server, timers, resizes)
// change State and return Dirty bits saying what changed; the screen (or
// the --plain printer) only reads State, once per loop turn.  Everything
// here runs on the UI thread; the only other thread is the receiver inside
// Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "commands.hpp"
#include "common/protocol.hpp"
#include "connection.hpp"
#include "layout.hpp"
#include "line_editor.hpp"

namespace sc::tui {

using Clock = std::chrono::steady_clock;

enum Dirty : unsigned {
  kNothing = 0,
  kStatus = 1u << 0,
  kMenu = 1u << 1,
  kMessages = 1u << 2,
  kClients = 1u << 3,
  kInput = 1u << 4,
  kEverything = 0x1F,
};

enum class LineKind : std::uint8_t { Info, Error, Incoming, Pending, Delivered, Event };

// One line of the messages pane.  In --plain mode each is printed as it is
// added; `text` is exactly the --plain line.
struct LogLine {
  std::int64_t at_us = 0;  // wall clock shown in the timestamp column
  LineKind kind = LineKind::Info;
  std::string text;        // may hold peer bytes: sanitize before display
};

// Connecting: the receiver resolves and connects; Greeting: connected, the
// server's HELLO not yet in.
enum class Phase : std::uint8_t { Disconnected, Connecting, Greeting, Connected, Closing };
enum class Focus : std::uint8_t { Input, Menu, Clients };
enum class MenuItem : std::uint8_t { Connect, Disconnect, Time, Name, List, Send, Help, Quit };
inline constexpr int kMenuItems = 8;

struct Key {
  enum class Code : std::uint8_t {
    Char, Enter, Backspace, Delete, Left, Right, Up, Down, Home, End, PageUp, PageDown,
    Tab, BackTab, Escape, KillLine, KillWord, Redraw, Function, PasteBegin, PasteEnd, Other,
  };
  Code code = Code::Other;
  char32_t ch = 0;   // Char
  int function = 0;  // Function: 1 for F1...
};

struct Options {
  std::string nick;  // asked for after connecting; empty: stay nickless
  bool bell = true;
  bool color = true;
  bool plain = false;
};

// A menu item that asks for arguments walks through these steps.
struct Prompt {
  bool active = false;
  MenuItem action = MenuItem::Connect;
  int step = 0;
  std::vector<std::string> answers;
};

struct State {
  Options options;
  Phase phase = Phase::Disconnected;
  std::string server;  // "127.0.0.1:2555" while connected or connecting
  Hello hello;         // valid once phase is Connected
  std::string nick;    // our nick as the server knows it
  std::map<std::uint32_t, Entry> clients;
  std::uint32_t selected = 0;  // client id chosen in the clients pane; 0: none

  std::deque<LogLine> log;
  std::uint64_t log_first_seq = 0;  // sequence number of log.front()
  std::size_t scroll = 0;           // lines scrolled back from the newest

  Focus focus = Focus::Input;
  int menu_index = 0;
  Prompt prompt;
  LineEditor input;
  LineEditor prompt_input;
  std::string notice;  // one-line hint or error under the panes
  bool notice_is_error = false;
  bool pasting = false;

  Layout layout = compute_layout(0, 0);

  std::uint64_t log_end_seq() const { return log_first_seq + log.size(); }
  bool connected() const { return phase == Phase::Connected; }
};

bool menu_item_enabled(const State& s, MenuItem item);
const char* menu_item_label(MenuItem item);
const char* menu_item_hotkey(MenuItem item);   // "F2"
char menu_item_letter(MenuItem item);          // hotkey in the menu pane
std::string prompt_label(const Prompt& p);     // "Host: "
std::string input_label(const State& s);       // "> ", "to 3 (bob)> ", "Host: "
std::string status_word(Status s);             // "no such client", ...

class App {
 public:
  explicit App(Options options);
  ~App();

  const State& state() const { return s_; }

  // Handlers: each returns Dirty bits.
  unsigned on_key(const Key& key);
  unsigned on_line(std::string_view line);  // an input line or a --plain line
  unsigned on_connection_ready();           // the receiver queued events
  unsigned on_tick(Clock::time_point now);  // deadlines (heartbeat, idle)
  unsigned on_resize(int rows, int cols);
  unsigned connect(const std::string& host, const std::string& port);
  unsigned request_quit();

  // Loop support.
  int wake_fd() const;                                // -1 when not connected
  int poll_timeout_ms(Clock::time_point now) const;  // -1: no deadline
  bool quit_done() const { return quit_ && s_.phase == Phase::Disconnected; }
  std::size_t outstanding() const { return pending_.size(); }
  // The last connect attempt never reached the server.
  bool connect_failed() const { return connect_failed_; }
  // Sends the ACKs for messages that are now on screen.  Call after paint;
  // returns Dirty bits (a failed send drops the connection).
  unsigned send_due_acks();
  // True once per incoming message while the bell is enabled.
  bool take_bell();

 private:
  struct Pending {
    Type type = Type::Ping;
    Clock::time_point sent;
    std::uint32_t target = 0;     // Send
    std::uint64_t line_seq = 0;   // Send: the "sending" line
    std::string nick;             // Nick: the one asked for
    bool quiet = false;           // List after HELLO: update the pane only
    bool in_batch = false;        // Time: part of /time N
  };
  struct TimeBatch {
    bool active = false;
    int asked = 0, answered = 0, failed = 0;
    Clock::time_point start;
    std::vector<double> rtts_ms;
  };

  // Keeps both editors' cursors visible in the field the input row leaves.
  unsigned fitted(unsigned dirty);

  // Output.
  unsigned add_line(LineKind kind, std::string text, std::int64_t at_us = 0);
  unsigned error(std::string text);
  unsigned note(std::string text, bool is_error = false);

  // Commands.
  unsigned run(const Command& c);
  unsigned activate(MenuItem item);
  unsigned say(const std::string& text);
  unsigned send_message(std::uint32_t target, const std::string& text);
  unsigned ask_time(int count);
  unsigned ask_nick(const std::string& nick);
  unsigned disconnect();
  unsigned cancel_connect();
  unsigned show_help();
  unsigned refuse_disabled(MenuItem item);

  // Keys.
  unsigned key_input(const Key& key, LineEditor& ed);
  unsigned key_menu(const Key& key);
  unsigned key_clients(const Key& key);
  unsigned key_global(const Key& key, bool& handled);
  unsigned submit_input();
  unsigned start_prompt(MenuItem action);
  unsigned advance_prompt();
  unsigned cancel_prompt();
  unsigned scroll_by(long lines);
  long max_scroll() const;
  unsigned select_next_client(int steps);

  // Wire.
  bool request(Type type, const Bytes& payload, Pending p);
  bool send_bytes(const Bytes& frame);
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
  unsigned mark_send_line(const Pending& pd, bool ok, const std::string& why);
  unsigned on_nick_result(const Pending& pd, const Header& h, ByteView p);
  unsigned finish_batch(const char* why);
  unsigned drop_connection(const std::string& line, LineKind kind);
  std::string client_label(std::uint32_t id) const;
  std::string error_text(const Header& h, ByteView p) const;

  State s_;
  std::unique_ptr<Connection> conn_;
  std::unordered_map<std::uint32_t, Pending> pending_;
  TimeBatch batch_;
  std::vector<std::uint32_t> acks_due_;
  Clock::time_point last_sent_, last_received_, closing_since_;
  bool events_waiting_ = false;
  bool bell_ = false;
  bool quit_ = false;
  bool connect_failed_ = false;
  int paste_lines_ = 0;
  std::string farewell_;  // why the server said it will close, if it did
  std::string last_host_ = kDefaultHost, last_port_ = kDefaultPortText;
};

}  // namespace sc::tui
