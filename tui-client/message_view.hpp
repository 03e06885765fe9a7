// Which log lines the messages pane shows, row by row.  Pure: the screen
// paints exactly these rows, and App ACKs an incoming message only when its
// line is among them ("delivered" means shown, PROTOCOL.md Delivery).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "layout.hpp"
#include "sanitize.hpp"
#include "scrollback.hpp"

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
  // Lines shown whole: [first_seq, end_seq).  A line taller than the pane
  // counts once it fills the pane: it can never be shown whole.
  std::uint64_t first_seq = 0, end_seq = 0;
  // Scrolled back with an incoming message below the view: its line is
  // shown on the last row, cut to fit (irssi's activity, one line of it).
  bool has_preview = false;
  std::uint64_t preview_seq = 0;

  bool shows(std::uint64_t seq) const {
    return (seq >= first_seq && seq < end_seq) || (has_preview && seq == preview_seq);
  }
};

// The rows for a pane of `pane`'s size with the log scrolled back by
// log.scroll lines.  Empty for a pane too small to hold text.
MessageView compute_message_view(const Scrollback& log, const Rect& pane);

}  // namespace sc::tui
