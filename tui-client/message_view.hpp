// Which log lines the messages pane shows, row by row.  Pure: the screen
// paints exactly these rows, and App ACKs an incoming message only when its
// line is among them ("delivered" means shown, PROTOCOL.md Delivery).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "layout.hpp"
#include "sanitize.hpp"
#include "scrollback.hpp"
#include "windows.hpp"

namespace sc::tui {

struct ViewRow {
  std::uint64_t seq = 0;    // the log line this row shows part of
  std::vector<Cell> cells;  // the whole line, sanitized
  std::size_t from = 0, to = 0;  // the cells on this row
  bool first = false;       // the line's first row: the timestamp goes here
  bool preview = false;     // the activity preview of a line below the view
};

struct MessageView {
  std::vector<ViewRow> rows;  // top to bottom, at most the pane's height
  // Scrolled back to the window's oldest line: the rows start at the top
  // of the pane (else they end at its bottom, the newest last).
  bool from_top = false;
  // The lines shown whole (seqs, oldest first).  A line taller than the
  // pane counts once it fills the pane: it can never be shown whole.
  std::vector<std::uint64_t> whole;
  // An incoming message that landed out of view (below it while scrolled
  // back, or in another window): its line is shown on the last row, cut
  // to fit (irssi's activity, one line of it).
  bool has_preview = false;
  std::uint64_t preview_seq = 0;

  bool shows(std::uint64_t seq) const {
    return (has_preview && seq == preview_seq) || std::find(whole.begin(), whole.end(), seq) != whole.end();
  }
};

// The rows for a pane of `pane`'s size showing window `w`'s lines of the
// log, the newest `scroll` of them scrolled away, with the line `preview`
// (a seq; -1: none) on the last row.  Empty for a pane too small for text.
MessageView compute_message_view(const Scrollback& log, const Rect& pane, const Window& w, std::size_t scroll,
                                 long long preview);
// The index of window `w`'s newest line, skipping `scroll` of its lines;
// log.size() when there is none.  The view's bottom line.
std::size_t window_end(const Scrollback& log, const Window& w, std::size_t scroll);

}  // namespace sc::tui
