#include <doctest/doctest.h>

#include "tui-client/line_editor.hpp"

using sc::tui::LineEditor;

namespace {

LineEditor with(const char* text) {
  LineEditor e;
  e.set_text(text);
  return e;
}

}  // namespace

TEST_CASE("typing, cursor moves, home/end, backspace and delete") {
  LineEditor e;
  e.insert_text("helo");
  CHECK(e.text() == "helo");
  CHECK(e.move_left());
  e.insert(U'l');
  CHECK(e.text() == "hello");
  CHECK(e.move_home());
  CHECK_FALSE(e.move_left());
  CHECK_FALSE(e.erase_before());
  CHECK(e.erase_at());
  CHECK(e.text() == "ello");
  CHECK(e.move_end());
  CHECK_FALSE(e.move_right());
  CHECK_FALSE(e.erase_at());
  CHECK(e.erase_before());
  CHECK(e.text() == "ell");
}

TEST_CASE("UTF-8: one cursor step per character, combining marks included") {
  LineEditor e = with("a\xc3\xa9\xe4\xbd\xa0");  // a é 你
  CHECK(e.cursor() == 3);
  e.erase_before();
  CHECK(e.text() == "a\xc3\xa9");
  e.insert_text("e\xcc\x81");  // e + combining acute: one character on screen
  CHECK(e.move_left());
  CHECK(e.cursor() == 2);
  CHECK(e.move_right());
  CHECK(e.cursor() == 4);
  CHECK(e.erase_before());
  CHECK(e.text() == "a\xc3\xa9");
}

TEST_CASE("control characters never enter the line") {
  LineEditor e;
  e.insert_text("a\x1b[31mb\x07\x7f");
  CHECK(e.text() == "a[31mb");
}

TEST_CASE("Ctrl-U kills to the start, Ctrl-W the word before the cursor") {
  LineEditor e = with("send to  bob");
  CHECK(e.kill_word_before());
  CHECK(e.text() == "send to  ");
  CHECK(e.kill_word_before());
  CHECK(e.text() == "send ");
  e.insert_text("x y");
  e.move_left();
  e.move_left();
  CHECK(e.kill_to_start());
  CHECK(e.text() == " y");
  CHECK(e.cursor() == 0);
  CHECK_FALSE(e.kill_to_start());
  CHECK_FALSE(e.kill_word_before());
}

TEST_CASE("history: up and down, the draft comes back, no duplicates") {
  LineEditor e;
  e.set_text("one");
  e.submit();
  e.set_text("two");
  e.submit();
  e.set_text("two");
  e.submit();
  e.submit();  // blank lines stay out
  CHECK(e.history_size() == 2);
  e.insert_text("dra");
  CHECK(e.history_up());
  CHECK(e.text() == "two");
  CHECK(e.history_up());
  CHECK(e.text() == "one");
  CHECK_FALSE(e.history_up());
  CHECK(e.history_down());
  CHECK(e.history_down());
  CHECK(e.text() == "dra");
  CHECK_FALSE(e.history_down());
}

TEST_CASE("horizontal scrolling keeps the cursor in the field") {
  LineEditor e = with("0123456789abcdefghij");  // 20 columns
  e.fit(10);
  auto v = e.view(10);
  CHECK(v.cursor_col <= 9);
  CHECK(v.more_left);
  CHECK_FALSE(v.more_right);
  CHECK(v.text.back() == 'j');
  e.move_home();
  e.fit(10);
  v = e.view(10);
  CHECK(v.cursor_col == 0);
  CHECK(v.text == "0123456789");
  CHECK(v.more_right);
  CHECK_FALSE(v.more_left);
  for (int i = 0; i < 15; ++i) {
    e.move_right();
    e.fit(10);
    v = e.view(10);
    CHECK(v.cursor_col >= 0);
    CHECK(v.cursor_col < 10);
  }
}

TEST_CASE("double-width characters are never cut in half at the edge") {
  // Five CJK characters: 10 columns; a field of 7 shows three of them.
  LineEditor e = with("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xe5\x95\x8a");
  e.move_home();
  e.fit(7);
  auto v = e.view(7);
  CHECK(v.text == "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96");
  e.move_end();
  e.fit(7);
  v = e.view(7);
  CHECK(v.cursor_col + 1 <= 7);
  CHECK(v.cursor_col % 2 == 0);
  e.fit(100);
  CHECK(e.view(100).text.size() == 15);
}

TEST_CASE("a line that fits again scrolls back to the start") {
  LineEditor e = with("0123456789abcdefghij");
  e.fit(10);
  for (int i = 0; i < 15; ++i) e.erase_before();
  e.fit(10);
  const auto v = e.view(10);
  CHECK(v.text == "01234");
  CHECK_FALSE(v.more_left);
  CHECK(v.cursor_col == 5);
}

TEST_CASE("a very long line typed key by key keeps the cursor in view at every step") {
  // Fitting runs on every key; it once cost the whole line each time, so a
  // long paste took minutes.  300,000 keys here must finish well within the
  // test's timeout on any machine.
  LineEditor e;
  for (int i = 0; i < 300000; ++i) {
    e.insert(static_cast<char32_t>(U'a' + i % 26));
    e.fit(80);
  }
  const auto v = e.view(80);
  CHECK(v.more_left);
  CHECK_FALSE(v.more_right);
  CHECK(v.cursor_col == 79);
  CHECK(v.text.size() == 79);
  CHECK(v.text.back() == static_cast<char>('a' + (300000 - 1) % 26));
  e.move_home();
  e.fit(80);
  CHECK(e.view(80).text.substr(0, 3) == "abc");
  CHECK(e.view(80).cursor_col == 0);
}
