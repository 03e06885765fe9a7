// PasteReader: the bulk read of a bracketed paste must hand over exactly the
// pasted text, wherever the reads cut it, and give back what followed.
#include <doctest/doctest.h>

#include <string>

#include "tui-client/paste_reader.hpp"

using sc::tui::PasteReader;

TEST_CASE("paste reader: text, the end marker, and the keys after it") {
  PasteReader p;
  const auto r = p.feed("hello world\x1b[201~\x1b[Ax");
  CHECK(r.text == "hello world");
  CHECK(r.ended);
  CHECK(r.after == "\x1b[Ax");
}

TEST_CASE("paste reader: an end marker cut between reads at every position") {
  const std::string all = "ab\xc3\xa9" "cd\x1b[201~z";  // "abécd", the marker, "z"
  for (std::size_t cut = 0; cut <= all.size(); ++cut) {
    PasteReader p;
    const auto a = p.feed(std::string_view(all).substr(0, cut));
    // Once the marker was seen, Screen stops feeding: the rest are keys.
    const std::string rest = all.substr(cut);
    const auto b = a.ended ? PasteReader::Result{} : p.feed(rest);
    INFO("cut at " << cut);
    CHECK(a.text + b.text == "ab\xc3\xa9" "cd");
    CHECK((a.ended || b.ended));
    CHECK((a.ended ? a.after + rest : b.after) == "z");
    // A first part never ends inside a character or the marker.
    CHECK(a.text.find('\x1b') == std::string::npos);
    CHECK(a.text != "ab\xc3");
  }
}

TEST_CASE("paste reader: an escape byte that is not the marker is text") {
  PasteReader p;
  auto r = p.feed("x\x1b[20");
  CHECK(r.text == "x");
  CHECK_FALSE(r.ended);
  r = p.feed("0q");  // "\x1b[200q": not the end marker
  CHECK(r.text == "\x1b[200q");
  CHECK_FALSE(r.ended);
}

TEST_CASE("paste reader: a megabyte in 64 KiB reads comes out whole") {
  std::string big;
  for (int i = 0; big.size() < (1u << 20); ++i) big += "w\xc3\xb6rd" + std::to_string(i) + ' ';
  const std::string all = big + "\x1b[201~";
  PasteReader p;
  std::string got;
  bool ended = false;
  for (std::size_t at = 0; at < all.size(); at += 65536) {
    const auto r = p.feed(std::string_view(all).substr(at, 65536));
    got += r.text;
    ended = ended || r.ended;
  }
  CHECK(ended);
  CHECK(got == big);
}
