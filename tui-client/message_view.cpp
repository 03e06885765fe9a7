#include "message_view.hpp"

#include <algorithm>

namespace sc::tui {

namespace {

// The newest incoming line at or after index `from`, as an index; -1: none.
long newest_incoming(const Scrollback& log, std::size_t from) {
  for (std::size_t i = log.size(); i-- > from;) {
    if (log[i].kind == LineKind::Incoming) return static_cast<long>(i);
  }
  return -1;
}

}  // namespace

MessageView compute_message_view(const Scrollback& log, const Rect& pane) {
  MessageView v;
  const int first_w = pane.w - kTimestampWidth, next_w = pane.w - continuation_indent(pane);
  if (pane.h <= 0 || first_w <= 0 || next_w <= 0 || log.empty()) return v;
  const std::size_t end = log.size() - std::min(log.scroll, log.size());
  int room = pane.h;
  ViewRow preview;
  if (const long p = log.scroll > 0 ? newest_incoming(log, end) : -1; p >= 0 && room > 1) {
    const auto i = static_cast<std::size_t>(p);
    preview = ViewRow{log.first_seq() + i, sanitize(log[i].text), 0, 0, true, true};
    preview.to = wrap_cells(preview.cells, first_w, next_w).front().second;
    v.has_preview = true;
    v.preview_seq = preview.seq;
    --room;
  }
  v.end_seq = log.first_seq() + end;
  v.first_seq = v.end_seq;
  std::vector<ViewRow> bottom_up;
  for (std::size_t n = end; n-- > 0 && room > 0;) {
    std::vector<Cell> cells = sanitize(log[n].text);
    const auto parts = wrap_cells(cells, first_w, next_w);
    const bool whole = static_cast<int>(parts.size()) <= room || bottom_up.empty();
    for (std::size_t k = parts.size(); k-- > 0 && room > 0; --room) {
      bottom_up.push_back(ViewRow{log.first_seq() + n, cells, parts[k].first, parts[k].second, k == 0, false});
    }
    if (whole) v.first_seq = log.first_seq() + n;
  }
  v.rows.assign(bottom_up.rbegin(), bottom_up.rend());
  if (v.has_preview) v.rows.push_back(std::move(preview));
  return v;
}

}  // namespace sc::tui
