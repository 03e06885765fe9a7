// The optional message log (irssi's autolog): every line of the messages
// pane, as --plain prints it (caret notation for control characters, so a
// peer's bytes never reach a terminal that cats the file), stamped
// "HH:MM:SS ", appended to one plain-text file per local day:
// $XDG_STATE_HOME/sockchat/logs/YYYY-MM-DD.log (else ~/.local/state/...).
// One file for all conversations: the Scrollback does not tell whose a
// line is.  Directories are made 0700, files 0600: they hold private talk.
// A "sending" line is written once it has its outcome, so the file says
// "(delivered)" or "(not delivered: ...)", never "(pending)".
#pragma once

#include <cstdint>
#include <string>

#include "scrollback.hpp"

namespace sc::tui {

// "2026-11-30.log" for the local date of at_us.
std::string autolog_file_name(std::int64_t at_us);
// The default directory; empty when neither XDG_STATE_HOME nor HOME is set.
std::string autolog_dir();

class Autolog {
 public:
  // dir empty: logging is off and flush() does nothing.
  explicit Autolog(std::string dir) : dir_(std::move(dir)) {}
  ~Autolog();
  Autolog(const Autolog&) = delete;
  Autolog& operator=(const Autolog&) = delete;

  bool enabled() const { return !dir_.empty() && failed_.empty(); }
  // Appends the lines added to `log` since the last call.  A "sending"
  // line still pending holds back the lines after it (order is kept)
  // unless `final`, at exit.  After a failure logging stops: why_failed().
  void flush(const Scrollback& log, bool final = false);
  const std::string& why_failed() const { return failed_; }

 private:
  bool write_line(const LogLine& line);
  bool open_for(const std::string& name);

  std::string dir_;
  std::string failed_;
  std::uint64_t next_ = 0;  // the next Scrollback seq to write
  std::string open_name_;   // the day file fd_ is open on
  int fd_ = -1;
};

}  // namespace sc::tui
