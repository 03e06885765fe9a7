#include <doctest/doctest.h>

#include "tui-client/completion.hpp"

using namespace sc::tui;

namespace {

const std::vector<std::string> kNicks = {"alice", "Albert", "bob"};
const std::vector<std::string> kCommands = {"msg", "nick", "name", "quit"};

LineEditor typed(const char* text) {
  LineEditor e;
  e.set_text(text);
  return e;
}

void type(Completion& c, LineEditor& ed, const char* s) {
  for (; *s != 0; ++s) {
    if (!c.type(ed, static_cast<char32_t>(*s))) ed.insert(static_cast<char32_t>(*s));
  }
}

}  // namespace

TEST_CASE("completion: Tab completes the word before the cursor, cycling case-insensitively") {
  Completion c;
  LineEditor ed = typed("hello al");
  REQUIRE(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "hello Albert");  // sorted: capitals first
  CHECK(c.choices() == "Albert alice");
  CHECK(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "hello alice");
  CHECK(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "hello Albert");
  CHECK(c.tab(ed, kNicks, kCommands, true));
  CHECK(ed.text() == "hello alice");
  CHECK(ed.cursor() == 11);
}

TEST_CASE("completion: typing the rest of a completed word does not double it") {
  Completion c;
  LineEditor ed = typed("hello b");
  REQUIRE(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "hello bob");
  type(c, ed, "ob, quick question");
  CHECK(ed.text() == "hello bob, quick question");
}

TEST_CASE("completion: spelling out another word keeps only what was typed") {
  Completion c;
  LineEditor ed = typed("bo");
  REQUIRE(c.tab(ed, kNicks, kCommands, false));
  type(c, ed, "bxy");
  CHECK(ed.text() == "bobxy");  // straight after Tab: the completion stands
  c.accept();
  LineEditor ed2 = typed("b");
  REQUIRE(c.tab(ed2, {"bobby"}, kCommands, false));
  type(c, ed2, "ox");
  CHECK(ed2.text() == "box");
}

TEST_CASE("completion: /commands at the start of the line only; text after the cursor stays") {
  Completion c;
  LineEditor ed = typed("/n");
  REQUIRE(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "/name");
  CHECK(c.tab(ed, kNicks, kCommands, false));
  CHECK(ed.text() == "/nick");
  c.accept();
  LineEditor mid = typed("say /n");
  CHECK_FALSE(c.tab(mid, kNicks, kCommands, false));
  LineEditor around = typed("hi bo there");
  for (int i = 0; i < 6; ++i) around.move_left();
  REQUIRE(c.tab(around, kNicks, kCommands, false));
  CHECK(around.text() == "hi bob there");
  CHECK(around.cursor() == 6);
  LineEditor none = typed("zz");
  CHECK_FALSE(c.tab(none, kNicks, kCommands, false));
  CHECK(none.text() == "zz");
  LineEditor empty;
  CHECK_FALSE(c.tab(empty, kNicks, kCommands, false));
}
