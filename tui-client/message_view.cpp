#include "message_view.hpp"

#include <algorithm>

namespace sc::tui {

std::size_t window_end(const Scrollback& log, const Window& w, std::size_t scroll) {
  for (std::size_t i = log.size(); i-- > 0;) {
    if (!w.shows(log[i], log.first_seq() + i)) continue;
    if (scroll == 0) return i + 1;
    --scroll;
  }
  return 0;
}

MessageView compute_message_view(const Scrollback& log, const Rect& pane, const Window& w, std::size_t scroll,
                                 long long preview) {
  MessageView v;
  const int first_w = pane.w - kTimestampWidth, next_w = pane.w - continuation_indent(pane);
  if (pane.h <= 0 || first_w <= 0 || next_w <= 0 || log.empty()) return v;
  const std::size_t end = window_end(log, w, scroll);
  int room = pane.h;
  ViewRow preview_row;
  const auto p = static_cast<std::uint64_t>(preview);
  if (preview >= 0 && p >= log.first_seq() && p < log.end_seq() && room > 1) {
    preview_row = ViewRow{p, sanitize(screen_text(log[p - log.first_seq()])), 0, 0, true, true};
    preview_row.to = wrap_cells(preview_row.cells, first_w, next_w).front().second;
    v.has_preview = true;
    v.preview_seq = p;
    --room;
  }
  std::vector<ViewRow> bottom_up;
  for (std::size_t n = end; n-- > 0 && room > 0;) {
    if (!w.shows(log[n], log.first_seq() + n)) continue;
    std::vector<Cell> cells = sanitize(screen_text(log[n]));
    const auto parts = wrap_cells(cells, first_w, next_w);
    const bool whole = static_cast<int>(parts.size()) <= room || bottom_up.empty();
    for (std::size_t k = parts.size(); k-- > 0 && room > 0; --room) {
      bottom_up.push_back(ViewRow{log.first_seq() + n, cells, parts[k].first, parts[k].second, k == 0, false});
    }
    if (whole) v.whole.push_back(log.first_seq() + n);
  }
  v.from_top = scroll > 0 && room > 0;  // the oldest line is in and rows are left
  v.rows.assign(bottom_up.rbegin(), bottom_up.rend());
  std::reverse(v.whole.begin(), v.whole.end());
  if (v.has_preview) v.rows.push_back(std::move(preview_row));
  return v;
}

}  // namespace sc::tui
