// The sanitizer: nothing a peer sends may reach the terminal as a control.
#include <doctest/doctest.h>

#include <string>

#include "tui-client/sanitize.hpp"

using sc::tui::Cell;
using sc::tui::sanitize;
using sc::tui::sanitize_plain;

namespace {

// No byte below 0x20, no DEL, and no UTF-8 encoded C1 (C2 80..C2 9F).
bool terminal_safe(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return false;
    if (b == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("every C0 control becomes visible caret notation") {
  for (int c = 0; c < 0x20; ++c) {
    const std::string in(1, static_cast<char>(c));
    const auto cells = sanitize(in);
    REQUIRE(cells.size() == 1);
    CHECK(cells[0].control);
    CHECK(cells[0].width == 2);
    CHECK(cells[0].text == std::string{'^', static_cast<char>(c + 0x40)});
  }
}

TEST_CASE("DEL becomes ^?") {
  const auto cells = sanitize("\x7f");
  REQUIRE(cells.size() == 1);
  CHECK(cells[0].control);
  CHECK(cells[0].text == "^?");
}

TEST_CASE("every C1 control becomes M-^ notation") {
  for (int c = 0x80; c <= 0x9F; ++c) {
    std::string in;
    sc::tui::append_utf8(in, static_cast<char32_t>(c));
    const auto cells = sanitize(in);
    REQUIRE(cells.size() == 1);
    CHECK(cells[0].control);
    CHECK(cells[0].text == std::string{'M', '-', '^', static_cast<char>(c - 0x80 + 0x40)});
    CHECK(terminal_safe(cells[0].text));
  }
}

TEST_CASE("escape sequences are inert") {
  const std::string attack = "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\xc2\x9b" "1m\x9b";
  const std::string out = sanitize_plain(attack);
  CHECK(terminal_safe(out));
  CHECK(out == "^[[31mred^[[0m ^[]0;title^G ^[[2JM-^[1m\xef\xbf\xbd");  // a raw 0x9b byte is not UTF-8
  int controls = 0;
  for (const Cell& c : sanitize(attack)) controls += c.control ? 1 : 0;
  CHECK(controls == 6);
}

TEST_CASE("printable text passes unchanged, wide characters take two columns") {
  CHECK(sanitize_plain("hello, world") == "hello, world");
  const auto cells = sanitize("a\xe4\xbd\xa0\xc3\xa9");  // a 你 é
  REQUIRE(cells.size() == 3);
  CHECK(cells[1].width == 2);
  CHECK(cells[2].width == 1);
  CHECK(sc::tui::display_width("a\xe4\xbd\xa0\xc3\xa9") == 4);
}

TEST_CASE("combining marks join the character before them") {
  const auto cells = sanitize("e\xcc\x81x");  // e + COMBINING ACUTE, x
  REQUIRE(cells.size() == 2);
  CHECK(cells[0].text == "e\xcc\x81");
  CHECK(cells[0].width == 1);
  const auto lone = sanitize("\xcc\x81");
  REQUIRE(lone.size() == 1);
  CHECK(lone[0].control);
  CHECK(lone[0].text == "<U+0301>");
}

TEST_CASE("bidirectional overrides are shown, not obeyed") {
  const auto cells = sanitize("a\xe2\x80\xae" "b");  // U+202E
  REQUIRE(cells.size() == 3);
  CHECK(cells[1].control);
  CHECK(cells[1].text == "<U+202E>");
}

TEST_CASE("invalid UTF-8 becomes U+FFFD per maximal ill-formed subpart") {
  const std::string fffd = "\xef\xbf\xbd";
  CHECK(sanitize_plain("\xff") == fffd);
  CHECK(sanitize_plain("\xc0\xaf") == fffd + fffd);           // overlong: two bad bytes
  CHECK(sanitize_plain("\xed\xa0\x80") == fffd + fffd + fffd);  // surrogate
  CHECK(sanitize_plain("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // > U+10FFFF
  CHECK(sanitize_plain("\xe4\xbd") == fffd);                   // truncated
  CHECK(sanitize_plain("a\xe4\xbd" "b") == "a" + fffd + "b");  // truncated, then ASCII survives
  CHECK(sanitize_plain("\x80") == fffd);                       // stray continuation
}

TEST_CASE("random bytes always come out terminal-safe") {
  std::uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    for (int i = 0; i < 16; ++i) {
      x = x * 1664525u + 1013904223u;
      s += static_cast<char>(x >> 24);
    }
    CHECK(terminal_safe(sanitize_plain(s)));
  }
}

namespace {

// The rows wrap_cells() makes, as text.
std::vector<std::string> wrapped(std::string_view s, int first_w, int next_w) {
  const std::vector<Cell> cells = sanitize(s);
  std::vector<std::string> rows;
  for (const auto& [from, to] : wrap_cells(cells, first_w, next_w)) {
    std::string row;
    for (std::size_t i = from; i < to; ++i) row += cells[i].text;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST_CASE("wrap_cells breaks after spaces, inside over-long words, by width") {
  CHECK(wrapped("", 10, 10) == std::vector<std::string>{""});
  CHECK(wrapped("short", 10, 10) == std::vector<std::string>{"short"});
  CHECK(wrapped("hello big world", 10, 10) == std::vector<std::string>{"hello big ", "world"});
  CHECK(wrapped("abcdefghijkl", 5, 4) == std::vector<std::string>{"abcde", "fghi", "jkl"});
  // Wide characters take two columns and are never split.
  CHECK(wrapped("你好你好", 5, 5) == std::vector<std::string>{"你好", "你好"});
  // Caret notation counts as its two visible columns.
  CHECK(wrapped("ab\x1b" "cd", 3, 3) == std::vector<std::string>{"ab", "^[c", "d"});
  // A width too small for one cell still makes progress: one cell per row.
  CHECK(wrapped("你x", 1, 1) == std::vector<std::string>{"你", "x"});
}
