// Where each pane goes for a terminal of a given size.  Pure.
#pragma once

#include <algorithm>

namespace sc::tui {

// Usable down to 40x10 (issue 12): below that only a notice shows.
inline constexpr int kMinRows = 10;
inline constexpr int kMinCols = 40;
inline constexpr int kMenuWidth = 20;
// Narrower than this the menu pane becomes a one-line function-key bar
// (htop's), which gives the messages its 21 columns.
inline constexpr int kMenuBarBelowCols = 110;
// Narrower than this the clients pane is hidden unless asked for (Alt-U).
inline constexpr int kClientsHideBelowCols = 60;
inline constexpr int kTimestampWidth = 9;  // "12:00:01 " before each log line

struct Rect {
  int y = 0, x = 0, h = 0, w = 0;
};

// The clients pane: as the width suggests, or as Alt-U last asked.
enum class ClientsPane : unsigned char { Auto, Shown, Hidden };

struct Layout {
  bool too_small = true;
  int rows = 0, cols = 0;
  int status_row = 0, title_row = 1, hint_row = 0, input_row = 0;
  bool menu_bar = false;  // the menu is the function-key bar on bar_row
  int bar_row = 0;
  bool clients_shown = false;
  Rect menu, messages, clients;  // content areas below the title row; menu empty with the bar
};

// Where wrapped rows of a log line start in the messages pane: under the
// text when the pane is wide, near the edge when it is narrow.
inline int continuation_indent(const Rect& messages) { return messages.w >= 60 ? kTimestampWidth : 2; }

//   row 0        status line
//   row 1        pane titles
//   rows 2..     [menu |] messages [| clients]
//   row R-3      function-key bar (narrower than kMenuBarBelowCols)
//   row R-2      hint / notice line
//   row R-1      input line (or a prompt)
inline Layout compute_layout(int rows, int cols, ClientsPane clients = ClientsPane::Auto) {
  Layout l;
  l.rows = rows;
  l.cols = cols;
  l.too_small = rows < kMinRows || cols < kMinCols;
  if (l.too_small) return l;
  l.menu_bar = cols < kMenuBarBelowCols;
  l.clients_shown = clients == ClientsPane::Auto ? cols >= kClientsHideBelowCols : clients == ClientsPane::Shown;
  const int body_h = rows - (l.menu_bar ? 5 : 4);
  const int menu_w = l.menu_bar ? 0 : kMenuWidth + 1;  // with its separator
  const int clients_w = !l.clients_shown ? 0 : l.menu_bar ? std::clamp(cols / 4, 14, 24) : std::clamp(cols / 5, 22, 40);
  if (!l.menu_bar) l.menu = {2, 0, body_h, kMenuWidth};
  if (l.clients_shown) l.clients = {2, cols - clients_w, body_h, clients_w};
  l.messages = {2, menu_w, body_h, cols - menu_w - (l.clients_shown ? clients_w + 1 : 0)};
  l.bar_row = rows - 3;
  l.hint_row = rows - 2;
  l.input_row = rows - 1;
  return l;
}

}  // namespace sc::tui
