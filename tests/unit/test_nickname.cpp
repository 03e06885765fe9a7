// sc::nickname: every refusal rule both ways, and the keys that must and
// must not collide.  test_nickname_threads.cpp calls it from several threads.
#include <doctest/doctest.h>

#include <string>

#include "common/nickname.hpp"

namespace sc::test {
namespace {

using nickname::key;
using nickname::refusal;

// The refusal for `nick`, which must name code point `cp` ("U+200B").
void check_refused_naming(const std::string& nick, const std::string& cp) {
  CAPTURE(nick);
  std::string reason = refusal(nick);
  CHECK_MESSAGE(reason.find(cp) != std::string::npos, reason);
}

TEST_CASE("ordinary nicks, accented or not Latin, are accepted") {
  for (const std::string nick : {"alice", "bob_2", "d'Artagnan", "Zoë", "Zoe\u0308", "李雷", "Ωmega",
                           "Ångström", "Дмитрий", "山田_taro", "ロボット山田", "山田ロイ",
                           "Ελένη", "Straße", "x"}) {
    CAPTURE(nick);
    CHECK(refusal(nick) == "");
  }
}

TEST_CASE("32-byte nicks of multi-byte characters are accepted and keyed") {
  const std::string cyrillic = "ДмитрийДмитрийДм";        // 16 x 2 bytes
  const std::string han = "李雷李雷李雷李雷李雷_2";          // 10 x 3 bytes + 2
  const std::string emoji = "😀😀😀😀😀😀😀😀";           // 8 x 4 bytes
  for (const std::string& nick : {cyrillic, han, emoji}) {
    CAPTURE(nick);
    REQUIRE(nick.size() == 32);
    CHECK(refusal(nick) == "");
    CHECK(key(nick) != "");
  }
  CHECK(key(cyrillic) != key(han));
}

TEST_CASE("zero-width characters are refused wherever they stand") {
  for (const char* zw : {"\u200B", "\u200C", "\u200D", "\u2060", "\uFEFF"}) {
    for (const std::string& nick : {std::string(zw) + "alice", "al" + std::string(zw) + "ice",
                                    "alice" + std::string(zw)}) {
      CAPTURE(nick);
      CHECK(refusal(nick).find("invisible or format character") != std::string::npos);
    }
  }
  check_refused_naming("ali\u200Bce", "U+200B ZERO WIDTH SPACE");
}

TEST_CASE("bidi controls are refused") {
  check_refused_naming("alice\u202Etxt.exe", "U+202E");
  for (const char* bidi : {"\u202A", "\u202B", "\u202C", "\u202D", "\u2066", "\u2067", "\u2068",
                           "\u2069", "\u200E", "\u200F", "\u061C"}) {
    std::string nick = std::string("bob") + bidi;
    CAPTURE(nick);
    CHECK(refusal(nick) != "");
  }
}

TEST_CASE("private-use, unassigned and noncharacter code points are refused") {
  check_refused_naming("bob\uE000", "U+E000");
  CHECK(refusal("bob\uE000").find("private-use") != std::string::npos);
  check_refused_naming("\U000F0000bob", "U+F0000");  // plane 15 private use
  check_refused_naming("bob\u0378", "U+0378");       // unassigned in Greek and Coptic
  CHECK(refusal("bob\u0378").find("unassigned") != std::string::npos);
  check_refused_naming("bob\U000E0080", "U+E0080");  // unassigned, in the tag block
  check_refused_naming("bob\uFFFF", "U+FFFF");
  CHECK(refusal("bob\uFFFF").find("noncharacter") != std::string::npos);
  check_refused_naming("bob\uFDD0", "U+FDD0");
  check_refused_naming("bob\U0001FFFE", "U+1FFFE");
}

TEST_CASE("default-ignorable letters and marks are refused") {
  check_refused_naming("\u3164", "U+3164 HANGUL FILLER");
  check_refused_naming("bob\u3164", "U+3164");
  check_refused_naming("\u115Fbob", "U+115F");
  check_refused_naming("bob\uFE0F", "U+FE0F");           // variation selector alone
  check_refused_naming("\u2764\uFE0F", "U+FE0F");        // and after an emoji
  check_refused_naming("bo\u034Fb", "U+034F");           // combining grapheme joiner
  check_refused_naming("bo\u00ADb", "U+00AD SOFT HYPHEN");
  check_refused_naming("bob\U000E0041", "U+E0041");      // tag letter A
}

TEST_CASE("what the wire rules already refuse is refused here too") {
  CHECK(refusal("") != "");
  CHECK(refusal("bob\xED\xA0\x80") == "nick is not valid UTF-8");  // encoded surrogate
  CHECK(refusal("bob\xC0\xAF") == "nick is not valid UTF-8");
  CHECK(refusal("bo\x01" "b") != "");
  CHECK(refusal("bo b") != "");
  CHECK(refusal("bo\u3000b") != "");
}

TEST_CASE("a letter that looks like one of the nick's main script is refused") {
  const char* mixed[] = {
      "alic\u0435",          // Cyrillic е among Latin
      "p\u0430ypal",         // Cyrillic а
      "\u0391lice",          // Greek capital Alpha
      "g\u043Eogle",         // Cyrillic о
      "Дмит\u0070ий",        // Latin p among Cyrillic
      "\u0430l\u0456\u0441\u0435",  // Cyrillic with one Latin l (Cyrillic palochka looks like it)
      "bob_\u0661",          // Arabic-Indic digit one, like l
  };
  for (const std::string nick : mixed) {
    CAPTURE(nick);
    CHECK(refusal(nick).find("mixes scripts") != std::string::npos);
  }
  CHECK(refusal("alic\u0435") ==
        "nick mixes scripts: U+0435 CYRILLIC SMALL LETTER IE looks like a Latin letter");
}

TEST_CASE("mixed scripts whose letters do not look alike are accepted") {
  // Ω has no Latin look-alike, the Han characters none, nor Greek λ.
  for (const std::string nick : {"Ωmega", "山田_taro", "taro_山田", "λambda", "Ωm"}) {
    CAPTURE(nick);
    CHECK(refusal(nick) == "");
  }
}

TEST_CASE("a whole-script look-alike is accepted, and collides through key") {
  const char* cyrillic_apie = "\u0430\u0440\u0456\u0435";  // а р і е, all Cyrillic
  CHECK(refusal(cyrillic_apie) == "");
  CHECK(key(cyrillic_apie) == key("apie"));
  CHECK(key("Вова") == key("BOBA"));
  // Han, Hiragana and Katakana count as one script (Japanese), as in UTS #39
  // section 5.1: Katakana ro among Han is no mix, but meets Han 口 in key.
  CHECK(refusal("山田\u30ED") == "");
  CHECK(key("山田\u30ED") == key("山田\u53E3"));
}

TEST_CASE("ICU's own checks: stacked marks, mixed digits, hidden marks") {
  CHECK(refusal("e\u0301\u0301") == "nick repeats a combining mark on one letter");
  CHECK(refusal("e\u0301") == "");
  CHECK(refusal("bob_1\u0662") == "nick mixes digits of different numbering systems");
  CHECK(refusal("bob_12") == "");
  CHECK(refusal("i\u0307") == "nick has a combining mark its letter hides");
}

TEST_CASE("case and look-alikes share a key") {
  const std::string alice = key("alice");
  REQUIRE(alice != "");
  for (const std::string nick : {"ALICE", "Alice", "alic\u0435", "aIice", "a1ice", "\u0391LICE",
                           "ａｌｉｃｅ", "𝔞𝔩𝔦𝔠𝔢"}) {
    CAPTURE(nick);
    CHECK(key(nick) == alice);
  }
  CHECK(key("b0b") == key("bob"));
  CHECK(key("Straße") == key("STRASSE"));
  CHECK(key("modern") == key("rnodern"));
  CHECK(key("Zoë") == key("Zoe\u0308"));  // precomposed and decomposed
  CHECK(key("ZOË") == key("zoë"));
  // The price of aIice ~ alice with case ignored (see nickname.cpp).
  CHECK(key("Neil") == key("Nell"));
}

TEST_CASE("different nicks keep different keys") {
  CHECK(key("Zoë") != key("Zoe"));  // the skeleton keeps diacritics
  CHECK(key("alice") != key("alicia"));
  CHECK(key("bob_2") != key("bob_3"));
  CHECK(key("Дмитрий") != key("Dmitry"));
  CHECK(key("李雷") != key("李电"));
  CHECK(key("Ωmega") != key("omega"));
}

}  // namespace
}  // namespace sc::test
