// The router: keys and input lines go to the focused pane or become
// commands; commands that talk to the server go to the Session, which owns
// the protocol.  Handlers change State and return Dirty bits saying what
// changed; the screen (or the --plain printer) only reads State, once per
// loop turn.  Pure like the Session: the connection comes in through a
// Connector, so the unit tests run App against a fake transport.  Everything
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
#include "completion.hpp"
#include "common/protocol.hpp"
#include "layout.hpp"
#include "line_editor.hpp"
#include "message_view.hpp"
#include "windows.hpp"
#include "scrollback.hpp"
#include "session.hpp"

namespace sc::tui {

enum class Focus : std::uint8_t { Input, Menu, Clients };
enum class MenuItem : std::uint8_t { Connect, Disconnect, Time, Name, List, Send, Help, Quit };
inline constexpr int kMenuItems = 8;
// The most one paste puts into the input line: far more than a message
// holds (the line is for editing it down), little enough memory (4 bytes a
// character in the editor).
inline constexpr std::size_t kMaxPasteBytes = std::size_t{4} << 20;

struct Key {
  enum class Code : std::uint8_t {
    Char, Enter, Backspace, Delete, Left, Right, Up, Down, Home, End, PageUp, PageDown,
    Tab, BackTab, Escape, KillLine, KillWord, Redraw, Function, PasteBegin, PasteText, PasteEnd,
    NextWindow, PrevWindow,  // Ctrl-N, Ctrl-P
    Other,
  };
  Code code = Code::Other;
  char32_t ch = 0;   // Char
  bool alt = false;  // Char: with Alt (or Esc before it)
  int function = 0;  // Function: 1 for F1...
  std::string text;  // PasteText: a block of pasted bytes (UTF-8)
};

struct Options {
  std::string nick;  // asked for after connecting; empty: stay nickless
  bool bell = true;
  bool color = true;
  bool plain = false;
  bool tls = false;   // --tls: connect with TLS unless /connect --no-tls
  bool reconnect = true;  // after a lost connection (never in --plain)
  std::string user;   // --user: the account to sign in to after HELLO
  // --password-file, or in --plain a terminal with echo off; empty: the
  // full-screen UI asks with its hidden input line.
  Session::PasswordSource password_source;
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
  SessionState session;        // written by the Session
  std::uint32_t selected = 0;  // client id chosen in the clients pane; 0: none
  Scrollback log;

  Focus focus = Focus::Input;
  int menu_index = 0;
  Prompt prompt;
  LineEditor input;
  LineEditor prompt_input;
  LineEditor ask_input{0};  // the trust question and the password: no history
  std::string notice;  // one-line hint or error under the panes
  bool notice_is_error = false;
  bool pasting = false;
  bool quit_asked = false;  // quitting with undelivered messages was asked about

  Layout layout = compute_layout(0, 0);
  ClientsPane clients_pane = ClientsPane::Auto;  // Alt-U toggles
  MessageView view;  // the messages pane's rows, laid out by prepare_paint()
  Windows windows;   // 1:all and one per conversation (windows.hpp)

  bool connected() const { return session.connected(); }
  // The session waits for an answer only the user can give.
  bool asking() const { return !session.question.empty() || !session.password_for.empty(); }
  Phase phase() const { return session.phase; }
};

bool menu_item_enabled(const State& s, MenuItem item);
const char* menu_item_label(MenuItem item);
const char* menu_item_short(MenuItem item);    // the function-key bar's word: "Send"
const char* menu_item_hotkey(MenuItem item);   // "F2"
char menu_item_letter(MenuItem item);          // hotkey in the menu pane
std::string prompt_label(const Prompt& p);     // "Host: "
std::string input_label(const State& s);       // "> ", "to 3 (bob)> ", "Host: "
// What follows a client's nick in the clients pane: " (you)", " (you,
// account)", " (account)" or nothing.
std::string client_mark(const State& s, std::uint32_t id);
// The windows for the status line: "[1:all] 2:bob(2) 3:alice(1!)" (the
// active one in brackets; unread messages, ! when one names you).
std::string windows_status(const State& s);
// After a nick in the clients pane: " 2 new", " 1 new!" or nothing.
std::string unread_mark(const State& s, const std::string& nick);

// The client a nick names in the client list: the one with exactly that
// nick, else the only one whose nick differs in ASCII case alone.  False
// with a sentence for the user in why when there is none or several.
bool find_client(const std::map<std::uint32_t, Entry>& clients, const std::string& nick, std::uint32_t& id,
                 std::string& why);

class App {
 public:
  App(Options options, Connector connector);
  ~App();

  const State& state() const { return s_; }

  // Handlers: each returns Dirty bits.
  unsigned on_key(const Key& key);
  unsigned on_line(std::string_view line);  // an input line or a --plain line
  unsigned on_connection_ready();           // the receiver queued events
  unsigned on_writable();                   // output may go out now
  unsigned on_tick(Clock::time_point now);  // deadlines (heartbeat, idle)
  unsigned on_resize(int rows, int cols);
  unsigned connect(const std::string& host, const std::string& port);
  unsigned request_quit();  // quits now, whatever is pending

  // Loop support.
  int wake_fd() const { return session_.wake_fd(); }    // -1 when not connected
  int write_fd() const { return session_.write_fd(); }  // poll for POLLOUT; -1: none
  int poll_timeout_ms(Clock::time_point now) const { return session_.poll_timeout_ms(now); }
  bool quit_done() const { return quit_ && s_.phase() == Phase::Disconnected; }
  std::size_t outstanding() const { return session_.outstanding(); }
  // The last connect attempt never reached the server.
  bool connect_failed() const { return session_.connect_failed(); }
  // Scrolls the input fields so that their cursors show and lays out the
  // messages pane's rows (State::view).  Call before paint.
  void prepare_paint();
  // Sends the ACKs for incoming messages that the last paint showed (in
  // --plain, that were printed).  Call after paint; returns Dirty bits (a
  // failed send drops the connection).
  unsigned send_due_acks();
  // True once per incoming message while the bell is enabled.
  bool take_bell();

 private:
  // Brings the UI in line with what the Session changed (a client gone,
  // the connection lost) and keeps both editors' cursors visible.
  unsigned settle(unsigned dirty);

  // Output.
  unsigned add_line(LineKind kind, std::string text, std::int64_t at_us = 0);
  unsigned error(std::string text);
  unsigned note(std::string text, bool is_error = false);

  // Commands.
  unsigned run(const Command& c);
  unsigned activate(MenuItem item);
  unsigned say(const std::string& text);
  bool text_target(std::uint32_t& id, std::string& why) const;
  unsigned send_to(const Command& c);
  unsigned whois(const Command& c);
  unsigned show_help();
  unsigned query(const std::string& who);
  unsigned close_window();
  unsigned clear_window();
  unsigned switch_window(std::size_t index);
  // Puts the lines added since the last call into their windows: opens a
  // conversation for a message from a new nick, counts unread and
  // highlights, and remembers what landed out of view for the preview.
  void route_new_lines();
  std::size_t& active_scroll();
  unsigned refuse_disabled(MenuItem item);
  unsigned quit_or_ask();

  // Tab in the input line.
  unsigned complete(bool backwards);
  std::vector<std::string> nick_candidates() const;

  // Keys.
  unsigned key_input(const Key& key, LineEditor& ed);
  unsigned paste_text(std::string_view text);
  unsigned key_menu(const Key& key);
  unsigned key_clients(const Key& key);
  unsigned key_global(const Key& key, bool& handled);
  unsigned key_alt(char32_t ch);
  unsigned key_tab(bool backwards);
  unsigned focus(Focus f);
  unsigned toggle_clients_pane();
  unsigned submit_input();
  unsigned start_prompt(MenuItem action);
  unsigned advance_prompt();
  unsigned cancel_prompt();
  unsigned key_ask(const Key& key);
  unsigned submit_ask();
  unsigned cancel_ask();
  unsigned scroll_by(long lines);
  long max_scroll() const;
  unsigned select_next_client(int steps);

  State s_;
  Session session_;
  std::uint64_t routed_end_ = 0;   // log lines before this seq are in their windows
  long long preview_ = -1;          // seq of the message for the activity preview; -1: none
  Completion completion_;
  bool quit_ = false;
  int paste_lines_ = 0;
  std::size_t paste_bytes_ = 0;  // this paste so far, against kMaxPasteBytes
  bool paste_cr_ = false;        // the last pasted byte was CR (CR LF is one break)
};

}  // namespace sc::tui
