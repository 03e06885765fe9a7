// Peer-supplied text -> display cells.  Pure: no curses, no I/O.
//
// Every string that came from the network (messages, nicks, the server
// name, error texts, the time-zone abbreviation) goes through here before it
// reaches a terminal.  Control characters (C0, DEL, C1 -- ESC included) and
// other invisible format characters become visible caret notation that the
// screen draws in reverse video, so a peer can never move the cursor, change
// colours or retitle the window.  Invalid UTF-8 becomes U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sc::tui {

struct Cell {
  std::string text;      // UTF-8 to draw: a printable character (with any
                         // combining marks) or caret notation such as "^["
  int width = 1;         // terminal columns text occupies
  bool control = false;  // caret notation: draw highlighted (reverse video)
};

// Decodes the code point at s[i].  Invalid or truncated sequences yield
// U+FFFD and consume their maximal ill-formed prefix (at least one byte), as
// Unicode recommends.  Returns the number of bytes consumed.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp);
void append_utf8(std::string& out, char32_t cp);

// Columns a printable code point occupies (0 for combining marks, 2 for wide
// East Asian characters).  -1: not printable (controls, format characters).
int char_width(char32_t cp);

// Caret notation for a code point that must not reach the terminal raw:
// C0 "^@".."^_", DEL "^?", C1 "M-^@".."M-^_" (as cat -v), anything else
// "<U+202E>".
std::string caret_notation(char32_t cp);

std::vector<Cell> sanitize(std::string_view s);
// The same rendering flattened to one string, for --plain output.
std::string sanitize_plain(std::string_view s);
// Columns that sanitize(s) occupies.
int display_width(std::string_view s);

// The rows a line of cells wraps into, as [from, to) cell ranges: the first
// row first_w columns wide, the others next_w.  Breaks after the last space
// of a row when there is one, inside a word otherwise.  At least one row.
std::vector<std::pair<std::size_t, std::size_t>> wrap_cells(const std::vector<Cell>& cells, int first_w,
                                                            int next_w);

}  // namespace sc::tui
