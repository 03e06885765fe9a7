// The inside of a bracketed paste, read in bulk.
//
// Curses reads the terminal one byte per read() (and a poll() before each),
// so a 1 MB paste cost two million system calls and seconds of CPU.  Between
// ESC[200~ and ESC[201~ a terminal sends nothing but the pasted text, so
// Screen reads it itself in large blocks and this splits what it read into
// the text before the end marker and the bytes after it (keys typed right
// after the paste, which go back to curses).  Pure: no terminal here.
#pragma once

#include <string>
#include <string_view>

namespace sc::tui {

class PasteReader {
 public:
  struct Result {
    std::string text;    // pasted text, whole UTF-8 sequences only
    bool ended = false;  // the end marker was in what was fed
    std::string after;   // bytes after the end marker
  };

  // Splits `bytes`.  A tail that may be the start of the end marker or of
  // a UTF-8 sequence is held back until the next feed(), so a marker or a
  // character cut between two reads is never lost or mangled.
  Result feed(std::string_view bytes);

  static constexpr std::string_view kEnd = "\x1b[201~";

 private:
  std::string held_;
};

}  // namespace sc::tui
