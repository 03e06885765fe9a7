// The messages pane's lines and the Dirty bits every handler returns.
// Pure: the Session appends protocol outcomes here, App appends what the
// user's commands produce, and the screen or the --plain printer read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace sc::tui {

// What a handler changed, so that the loop repaints once per turn and only
// the panes that need it (htop's HandlerResult).
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
  // A message to or from someone: their nick, which names the conversation
  // window (windows.hpp) the line also shows in; empty for anything else.
  std::string peer;
  bool mention = false;    // Incoming: the text names our nick
  // What the full screen shows instead of `text` when set: "<bob> hi" for
  // an incoming message (one line, the address only in /whois and the
  // clients pane); `text` stays the --plain line.
  std::string screen;
};

inline const std::string& screen_text(const LogLine& l) { return l.screen.empty() ? l.text : l.screen; }

// Lines carry sequence numbers that survive trimming the oldest, so a
// "sending" line can be found again when its answer comes.
class Scrollback {
 public:
  explicit Scrollback(std::size_t max_lines = 10000) : max_lines_(max_lines) {}

  // Appends a line stamped at_us (0: now).  Returns kMessages.
  unsigned add(LineKind kind, std::string text, std::int64_t at_us = 0);
  // Marks the "sending" line `seq` with its fate; kNothing when it is gone.
  unsigned mark_send(std::uint64_t seq, bool ok, const std::string& why);

  std::size_t size() const { return lines_.size(); }
  bool empty() const { return lines_.empty(); }
  const LogLine& operator[](std::size_t i) const { return lines_[i]; }
  const LogLine& back() const { return lines_.back(); }
  LogLine& back() { return lines_.back(); }
  std::uint64_t first_seq() const { return first_seq_; }
  std::uint64_t end_seq() const { return first_seq_ + lines_.size(); }

  // Lines scrolled back from the newest; the UI owns it, add() keeps the
  // reader's place.
  std::size_t scroll = 0;

 private:
  std::deque<LogLine> lines_;
  std::uint64_t first_seq_ = 0;
  std::size_t max_lines_;
};

std::int64_t wall_clock_us();

}  // namespace sc::tui
