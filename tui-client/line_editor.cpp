#include "line_editor.hpp"

#include <cstring>

#include "sanitize.hpp"

namespace sc::tui {

namespace {

int cp_width(char32_t cp) {
  const int w = char_width(cp);
  return w < 0 ? 0 : w;
}

bool is_word_space(char32_t cp) { return cp == U' ' || cp == U'\t' || cp == 0x3000; }

}  // namespace

void LineEditor::insert(char32_t cp) {
  if (char_width(cp) < 0) return;
  buf_.insert(buf_.begin() + static_cast<std::ptrdiff_t>(cur_), cp);
  ++cur_;
}

// One insertion for the whole text: a paste into the middle of a long line
// moves its tail once, not once per character.
void LineEditor::insert_text(std::string_view utf8) {
  std::u32string add;
  add.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    char32_t cp;
    i += decode_utf8(utf8, i, cp);
    if (char_width(cp) >= 0) add.push_back(cp);
  }
  buf_.insert(cur_, add);
  cur_ += add.size();
}

bool LineEditor::is_zero_width(std::size_t i) const {
  return i < buf_.size() && cp_width(buf_[i]) == 0;
}

// Cursor moves step over a character together with its combining marks.
bool LineEditor::move_left() {
  if (cur_ == 0) return false;
  --cur_;
  while (cur_ > 0 && is_zero_width(cur_)) --cur_;
  return true;
}

bool LineEditor::move_right() {
  if (cur_ == buf_.size()) return false;
  ++cur_;
  while (is_zero_width(cur_)) ++cur_;
  return true;
}

bool LineEditor::move_home() {
  if (cur_ == 0) return false;
  cur_ = 0;
  return true;
}

bool LineEditor::move_end() {
  if (cur_ == buf_.size()) return false;
  cur_ = buf_.size();
  return true;
}

bool LineEditor::erase_before() {
  const std::size_t end = cur_;
  if (!move_left()) return false;
  buf_.erase(cur_, end - cur_);
  return true;
}

bool LineEditor::erase_at() {
  const std::size_t start = cur_;
  if (!move_right()) return false;
  buf_.erase(start, cur_ - start);
  cur_ = start;
  return true;
}

bool LineEditor::kill_to_start() {
  if (cur_ == 0) return false;
  buf_.erase(0, cur_);
  cur_ = 0;
  return true;
}

bool LineEditor::kill_word_before() {
  std::size_t start = cur_;
  while (start > 0 && is_word_space(buf_[start - 1])) --start;
  while (start > 0 && !is_word_space(buf_[start - 1])) --start;
  if (start == cur_) return false;
  buf_.erase(start, cur_ - start);
  cur_ = start;
  return true;
}

bool LineEditor::history_up() {
  if (hist_pos_ == 0) return false;
  if (hist_pos_ == history_.size()) draft_ = buf_;
  --hist_pos_;
  buf_ = history_[hist_pos_];
  cur_ = buf_.size();
  return true;
}

bool LineEditor::history_down() {
  if (hist_pos_ >= history_.size()) return false;
  ++hist_pos_;
  buf_ = hist_pos_ == history_.size() ? draft_ : history_[hist_pos_];
  cur_ = buf_.size();
  return true;
}

std::string LineEditor::submit() {
  std::string line = text();
  bool blank = true;
  for (char32_t cp : buf_) blank = blank && is_word_space(cp);
  if (!blank && (history_.empty() || history_.back() != buf_)) {
    history_.push_back(buf_);
    if (history_.size() > max_history_) history_.erase(history_.begin());
  }
  clear();
  return line;
}

std::string LineEditor::take_secret() {
  std::string line = text();
  explicit_bzero(buf_.data(), buf_.size() * sizeof(char32_t));
  clear();
  return line;
}

void LineEditor::set_text(std::string_view utf8) {
  clear();
  insert_text(utf8);
}

void LineEditor::replace(std::u32string line, std::size_t cursor) {
  buf_ = std::move(line);
  cur_ = std::min(cursor, buf_.size());
}

void LineEditor::clear() {
  buf_.clear();
  draft_.clear();
  cur_ = 0;
  scroll_ = 0;
  hist_pos_ = history_.size();
}

std::string LineEditor::text() const {
  std::string out;
  for (char32_t cp : buf_) append_utf8(out, cp);
  return out;
}

int LineEditor::width_between(std::size_t from, std::size_t to, int limit) const {
  int w = 0;
  for (std::size_t i = from; i < to && i < buf_.size() && w <= limit; ++i) w += cp_width(buf_[i]);
  return w;
}

// Runs on every key, so it must cost the field's width, not the line's
// length: a 1 MB paste is a million keys (it once took minutes here).
void LineEditor::fit(int width) {
  if (width < 2) width = 2;
  // One column stays free for the cursor after the last character.
  if (width_between(0, buf_.size(), width) + 1 <= width) {
    scroll_ = 0;
    return;
  }
  if (scroll_ > cur_) {
    // Scrolling left: show about a third of the field before the cursor.
    scroll_ = cur_;
    for (int w = 0; scroll_ > 0 && w + cp_width(buf_[scroll_ - 1]) <= width / 3; --scroll_) {
      w += cp_width(buf_[scroll_ - 1]);
    }
  }
  // Scrolling right: the leftmost start at or after scroll_ from which the
  // cursor (and the character under it) still fits, found from the cursor
  // backwards.
  const int room = width - (cur_ < buf_.size() ? cp_width(buf_[cur_]) : 1);
  std::size_t start = cur_;
  for (int w = 0; start > scroll_ && w + cp_width(buf_[start - 1]) <= room; --start) {
    w += cp_width(buf_[start - 1]);
  }
  scroll_ = start;
  while (is_zero_width(scroll_) && scroll_ < cur_) ++scroll_;
}

LineEditor::View LineEditor::view(int width) const {
  View v;
  const std::size_t start = scroll_ <= buf_.size() ? scroll_ : buf_.size();
  v.more_left = start > 0;
  int used = 0;
  std::size_t i = start;
  for (; i < buf_.size(); ++i) {
    const int w = cp_width(buf_[i]);
    if (used + w > width) break;
    append_utf8(v.text, buf_[i]);
    used += w;
  }
  v.more_right = i < buf_.size();
  v.cursor_col = width_between(start, cur_ < start ? start : cur_);
  return v;
}

}  // namespace sc::tui
