#include "scrollback.hpp"

#include <algorithm>
#include <chrono>

namespace sc::tui {

std::int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

unsigned Scrollback::add(LineKind kind, std::string text, std::int64_t at_us) {
  lines_.push_back(LogLine{at_us != 0 ? at_us : wall_clock_us(), kind, std::move(text), {}, false, {}});
  if (lines_.size() > max_lines_) {
    lines_.pop_front();
    ++first_seq_;
  }
  // Someone reading old lines keeps their place while new ones arrive.
  if (scroll > 0) scroll = std::min(scroll + 1, lines_.size() - 1);
  return kMessages;
}

// The screen shows only the marked line; --plain printed it already and
// prints the outcome as a line of its own (the Session adds that).
unsigned Scrollback::mark_send(std::uint64_t seq, bool ok, const std::string& why) {
  if (seq < first_seq_ || seq >= end_seq()) return kNothing;
  LogLine& l = lines_[seq - first_seq_];
  const std::string suffix = " (pending)";
  if (l.text.ends_with(suffix)) l.text.resize(l.text.size() - suffix.size());
  if (ok && l.text.starts_with("sending ")) l.text.replace(0, 7, "sent");
  l.text += ok ? " (delivered)" : " (not delivered: " + why + ")";
  l.kind = ok ? LineKind::Delivered : LineKind::Error;
  return kMessages;
}

}  // namespace sc::tui
