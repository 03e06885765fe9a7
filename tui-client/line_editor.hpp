// The input line: an editable UTF-8 line with history and horizontal
// scrolling.  Pure (no curses): the screen asks it for a view and draws it.
#pragma once

#include <climits>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sc::tui {

class LineEditor {
 public:
  explicit LineEditor(std::size_t max_history = 500) : max_history_(max_history) {}

  // Inserts at the cursor.  Control characters are dropped: the line holds
  // only printable text (pasted line breaks arrive here already as spaces).
  void insert(char32_t cp);
  void insert_text(std::string_view utf8);

  // Editing keys.  Each returns whether anything changed.
  bool move_left();
  bool move_right();
  bool move_home();
  bool move_end();
  bool erase_before();      // Backspace
  bool erase_at();          // Delete
  bool kill_to_start();     // Ctrl-U: erase from the start to the cursor
  bool kill_word_before();  // Ctrl-W: erase the word before the cursor
  bool history_up();
  bool history_down();

  // Returns the line and clears it; a non-blank line joins the history.
  std::string submit();
  // Like submit() without the history, and the buffer is wiped: for a
  // password (best effort: earlier reallocations may have left copies).
  std::string take_secret();
  void set_text(std::string_view utf8);  // cursor at the end
  void clear();

  // The line as code points, and putting an edited one back with the cursor
  // at code point `cursor` (Tab completion edits around the cursor).
  const std::u32string& code_points() const { return buf_; }
  void replace(std::u32string line, std::size_t cursor);

  std::string text() const;
  bool empty() const { return buf_.empty(); }
  std::size_t cursor() const { return cur_; }  // in code points
  std::size_t history_size() const { return history_.size(); }

  // Keeps the cursor inside a field `width` columns wide: scrolls just
  // enough, and back to the start when the whole line fits.
  void fit(int width);

  struct View {
    std::string text;      // the visible part, UTF-8
    int cursor_col = 0;    // column of the cursor inside the field
    bool more_left = false;
    bool more_right = false;
  };
  View view(int width) const;

 private:
  // Columns taken by code points [from, to); stops counting once past
  // `limit` (the result is then only known to be larger).
  int width_between(std::size_t from, std::size_t to, int limit = INT_MAX) const;
  bool is_zero_width(std::size_t i) const;

  std::u32string buf_;
  std::size_t cur_ = 0;     // cursor, index into buf_
  std::size_t scroll_ = 0;  // first visible code point
  std::vector<std::u32string> history_;
  std::size_t hist_pos_ = 0;  // == history_.size(): editing the draft
  std::u32string draft_;
  std::size_t max_history_;
};

}  // namespace sc::tui
