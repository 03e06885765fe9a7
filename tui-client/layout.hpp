// Where each pane goes for a terminal of a given size.  Pure.
//
//   row 0        status line
//   row 1        pane titles
//   rows 2..R-3  menu | messages | clients
//   row R-2      hint / notice line
//   row R-1      input line (or a prompt)
#pragma once

#include <algorithm>

namespace sc::tui {

inline constexpr int kMinRows = 14;
inline constexpr int kMinCols = 70;
inline constexpr int kMenuWidth = 20;
inline constexpr int kTimestampWidth = 9;  // "12:00:01 " before each log line

struct Rect {
  int y = 0, x = 0, h = 0, w = 0;
};

struct Layout {
  bool too_small = true;
  int rows = 0, cols = 0;
  int status_row = 0, title_row = 1, hint_row = 0, input_row = 0;
  Rect menu, messages, clients;  // content areas below the title row
};

// Where wrapped rows of a log line start in the messages pane: under the
// text when the pane is wide, near the edge when it is narrow.
inline int continuation_indent(const Rect& messages) { return messages.w >= 60 ? kTimestampWidth : 2; }

inline Layout compute_layout(int rows, int cols) {
  Layout l;
  l.rows = rows;
  l.cols = cols;
  l.too_small = rows < kMinRows || cols < kMinCols;
  if (l.too_small) return l;
  const int body_h = rows - 4;
  const int clients_w = std::clamp(cols / 5, 22, 40);
  l.menu = {2, 0, body_h, kMenuWidth};
  l.clients = {2, cols - clients_w, body_h, clients_w};
  l.messages = {2, kMenuWidth + 1, body_h, cols - kMenuWidth - 1 - clients_w - 1};
  l.hint_row = rows - 2;
  l.input_row = rows - 1;
  return l;
}

}  // namespace sc::tui
