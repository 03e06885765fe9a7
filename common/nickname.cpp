// Nick policy on top of ICU's spoof checker (Unicode TS #39).
//
// Threads: one checker serves every thread.  ICU 72's uspoof.h says: "The
// test functions for checking a single identifier, or for testing whether two
// identifiers are possible confusable, are thread safe.  They may called
// concurrently, from multiple threads, using the same USpoofChecker instance.
// More generally, the standard ICU thread safety rules apply: functions that
// take a const USpoofChecker parameter are thread safe."  The checker is
// configured (uspoof_setChecks, non-const) before it is published through a
// function-local static, whose initialisation C++ runs exactly once; after
// that only uspoof_check2UTF8 and uspoof_getSkeletonUnicodeString, both on a
// const USpoofChecker, touch it, and the look-alike table is only read.  The
// other ICU calls here (case mapping, character properties and names) take no
// object of ours; ICU loads the data behind them once, under its own locks.
// TSan sees our side only (Debian's libicu is not instrumented), so
// unit-nickname-threads checks the one-time set-up and the table, and ICU's
// own promise covers the rest.
#include "nickname.hpp"

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace sc::nickname {
namespace {

// Far above the wire limit (32 bytes); keeps every length an int32_t for ICU.
constexpr std::size_t kMaxBytes = 1024;

using Scripts = std::vector<UScriptCode>;  // sorted, no duplicates

void make_set(Scripts& scripts) {
  std::sort(scripts.begin(), scripts.end());
  scripts.erase(std::unique(scripts.begin(), scripts.end()), scripts.end());
}

struct Checker {
  UErrorCode status = U_ZERO_ERROR;  // the first failure while building
  icu::LocalUSpoofCheckerPointer spoof;
  // Skeleton -> scripts of the characters that map to it, for every letter,
  // mark and digit whose skeleton is not the character itself.  It answers
  // "does a Cyrillic letter look like Latin p?" (yes: р), which the skeleton
  // of p (p) cannot.
  std::unordered_map<std::u16string, Scripts> lookalikes;
};

std::string icu_failure(UErrorCode status) {
  return std::string("nick could not be checked (ICU: ") + u_errorName(status) + ")";
}

// "U+200B ZERO WIDTH SPACE", or "U+0378" for a code point without a name.
std::string describe(UChar32 c) {
  char text[160];
  std::snprintf(text, sizeof text, "U+%04X", static_cast<unsigned>(c));
  char name[128];
  UErrorCode status = U_ZERO_ERROR;
  int32_t n = u_charName(c, U_UNICODE_CHAR_NAME, name, sizeof name, &status);
  if (U_FAILURE(status) || n <= 0 || n >= static_cast<int32_t>(sizeof name)) return text;
  return std::string(text) + " " + name;
}

std::string script_name(UScriptCode script) {
  const char* name = uscript_getName(script);
  return name ? name : "another";
}

// The scripts of c (its Script_Extensions without Common and Inherited),
// augmented as UTS #39 section 5.1 does: Han also counts as Hanb, Jpan and
// Kore, Hiragana and Katakana as Jpan, Hangul as Kore, Bopomofo as Hanb, so
// that Japanese or Korean writing is one script and "山田ロイ" is no mix.
Scripts scripts_of(UChar32 c, UErrorCode& status) {
  UScriptCode found[64];
  int32_t n = uscript_getScriptExtensions(c, found, 64, &status);
  Scripts out;
  if (U_FAILURE(status)) return out;
  for (int32_t i = 0; i < n; ++i) {
    UScriptCode s = found[i];
    if (s == USCRIPT_COMMON || s == USCRIPT_INHERITED) continue;
    out.push_back(s);
    if (s == USCRIPT_HAN) {
      out.insert(out.end(), {USCRIPT_HAN_WITH_BOPOMOFO, USCRIPT_JAPANESE, USCRIPT_KOREAN});
    } else if (s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA) {
      out.push_back(USCRIPT_JAPANESE);
    } else if (s == USCRIPT_HANGUL) {
      out.push_back(USCRIPT_KOREAN);
    } else if (s == USCRIPT_BOPOMOFO) {
      out.push_back(USCRIPT_HAN_WITH_BOPOMOFO);
    }
  }
  make_set(out);
  return out;
}

bool contains(const Scripts& set, UScriptCode script) {
  return std::binary_search(set.begin(), set.end(), script);
}

icu::UnicodeString skeleton(const Checker& ch, const icu::UnicodeString& s, UErrorCode& status) {
  icu::UnicodeString out;
  uspoof_getSkeletonUnicodeString(ch.spoof.getAlias(), 0, s, out, &status);
  if (U_SUCCESS(status) && out.isBogus()) status = U_MEMORY_ALLOCATION_ERROR;
  return out;
}

std::u16string u16(const icu::UnicodeString& s) {
  return std::u16string(s.getBuffer(), static_cast<std::size_t>(s.length()));
}

// One pass over every letter, mark and digit (some 140,000 code points,
// 0.15 s on the first call): ICU offers no reverse confusable map.
void collect_lookalikes(Checker& ch) {
  icu::UnicodeSet candidates(u"[[:L:][:M:][:N:]]", ch.status);
  for (int32_t r = 0; U_SUCCESS(ch.status) && r < candidates.getRangeCount(); ++r) {
    for (UChar32 c = candidates.getRangeStart(r); c <= candidates.getRangeEnd(r); ++c) {
      icu::UnicodeString one(c);
      icu::UnicodeString skel = skeleton(ch, one, ch.status);
      Scripts scripts = scripts_of(c, ch.status);
      if (U_FAILURE(ch.status)) return;
      if (skel == one || scripts.empty()) continue;
      Scripts& known = ch.lookalikes[u16(skel)];
      known.insert(known.end(), scripts.begin(), scripts.end());
      make_set(known);
    }
  }
}

Checker build_checker() {
  Checker ch;
  ch.spoof.adoptInstead(uspoof_open(&ch.status));
  // The restriction-level and confusable checks stay off: the first refuses
  // "Ωmega", the second needs two strings; mixed_script_reason() and key()
  // do that work.
  uspoof_setChecks(ch.spoof.getAlias(),
                   USPOOF_INVISIBLE | USPOOF_MIXED_NUMBERS | USPOOF_HIDDEN_OVERLAY, &ch.status);
  if (U_SUCCESS(ch.status)) collect_lookalikes(ch);
  return ch;
}

const Checker& checker() {
  static const Checker ch = build_checker();
  return ch;
}

// What makes code point c unfit for a nick, or nullptr.  Surrogates never get
// here: UTF-8 cannot carry them, so they fail decoding.
const char* forbidden_kind(UChar32 c) {
  if (u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT)) return "a noncharacter";
  switch (static_cast<UCharCategory>(u_charType(c))) {
    case U_UNASSIGNED: return "an unassigned code point";
    case U_PRIVATE_USE_CHAR: return "a private-use character";
    case U_SURROGATE: return "a surrogate";
    case U_CONTROL_CHAR: return "a control character";
    case U_FORMAT_CHAR: return "an invisible or format character";
    default: break;
  }
  // U+3164 HANGUL FILLER, U+115F, variation selectors, U+034F, ...: letters
  // or marks by category, yet drawn as nothing.
  if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT)) {
    return "an invisible or format character";
  }
  if (u_isUWhiteSpace(c)) return "whitespace";
  return nullptr;
}

// Decodes nick into code points; false (and a reason) if it is not UTF-8 or
// holds a forbidden code point.
bool decode(std::string_view nick, std::vector<UChar32>& out, std::string& reason) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(nick.data());
  const auto length = static_cast<int32_t>(nick.size());
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) {
      reason = "nick is not valid UTF-8";
      return false;
    }
    if (const char* kind = forbidden_kind(c)) {
      reason = std::string("nick contains ") + kind + " (" + describe(c) + ")";
      return false;
    }
    out.push_back(c);
  }
  return true;
}

std::string spoof_check_reason(const Checker& ch, std::string_view nick) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t failed = uspoof_check2UTF8(ch.spoof.getAlias(), nick.data(),
                                     static_cast<int32_t>(nick.size()), nullptr, &status);
  if (U_FAILURE(status)) return icu_failure(status);
  if (failed & USPOOF_INVISIBLE) return "nick repeats a combining mark on one letter";
  if (failed & USPOOF_MIXED_NUMBERS) return "nick mixes digits of different numbering systems";
  if (failed & USPOOF_HIDDEN_OVERLAY) return "nick has a combining mark its letter hides";
  return {};
}

// Whether some character of `script` looks exactly like c, i.e. has the same
// skeleton.  A prototype is its own skeleton (UTS #39 section 4), so that is
// either the skeleton itself or a character the look-alike table knows.
bool looks_like_script(const Checker& ch, UChar32 c, UScriptCode script, UErrorCode& status) {
  icu::UnicodeString skel = skeleton(ch, icu::UnicodeString(c), status);
  if (U_FAILURE(status)) return false;
  if (skel.countChar32() == 1 && contains(scripts_of(skel.char32At(0), status), script)) {
    return true;
  }
  auto it = ch.lookalikes.find(u16(skel));
  return it != ch.lookalikes.end() && contains(it->second, script);
}

// Mixed-script confusables.  UTS #39 section 4 calls two strings
// mixed-script confusable when they look alike and no script is common to
// both; a nick is refused when one character makes it so.  The nick's
// dominant script is the one most of its characters belong to (every tied
// one is tried in turn).  A character not of the dominant script is an
// intruder when a character of that script has the same single-character
// skeleton, i.e. when replacing it would give a one-script nick that looks
// the same.  "pаypal" (Cyrillic а ~ a) and "Дмитpий" (Latin p ~ Cyrillic р)
// are refused; "Ωmega" is not (no Latin letter has Ω's skeleton), nor "Zoë",
// "山田_taro" or "Дмитрий".  Common and Inherited characters (digits,
// punctuation, combining marks) belong to no script and are never intruders;
// key() catches "b0b" against "bob".
std::string mixed_script_reason(const Checker& ch, const std::vector<UChar32>& cps) {
  UErrorCode status = U_ZERO_ERROR;
  std::vector<Scripts> of;
  std::map<UScriptCode, int> count;
  for (UChar32 c : cps) {
    of.push_back(scripts_of(c, status));
    for (UScriptCode s : of.back()) ++count[s];
  }
  if (U_FAILURE(status)) return icu_failure(status);
  int most = 0;
  for (const auto& [script, n] : count) most = std::max(most, n);
  for (const auto& [dominant, n] : count) {
    if (n != most) continue;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      if (of[i].empty() || contains(of[i], dominant)) continue;
      bool intruder = looks_like_script(ch, cps[i], dominant, status);
      if (U_FAILURE(status)) return icu_failure(status);
      if (intruder) {
        return "nick mixes scripts: " + describe(cps[i]) + " looks like a " +
               script_name(dominant) + " letter";
      }
    }
  }
  return {};
}

// One step towards a key that ignores case and look-alikes at once:
// upper-case, so that capitals' look-alikes count ("aIice" has a capital I,
// which looks like l; "b0b" a zero, which looks like O); skeleton; case-fold
// (full folding: "ß" and "ss" meet); skeleton again, for lower-case
// look-alikes ("m" and "rn", Cyrillic "е" and "e").
icu::UnicodeString key_step(const Checker& ch, icu::UnicodeString s, UErrorCode& status) {
  s.toUpper(icu::Locale::getRoot());
  if (s.isBogus()) status = U_MEMORY_ALLOCATION_ERROR;
  icu::UnicodeString t = skeleton(ch, s, status);
  if (U_FAILURE(status)) return {};
  t.foldCase();
  if (t.isBogus()) status = U_MEMORY_ALLOCATION_ERROR;
  return skeleton(ch, t, status);
}

// The key: key_step() from the case-folded nick until nothing changes (a
// step can uncover more: "𝔞𝔩𝔦𝔠𝔢" has no capitals until its first skeleton
// makes it "alice"); a few steps suffice, the bound only guards the loop.
// A plain skeleton of the folded nick would miss "aIice", and a skeleton
// before folding would part "ALICE" from "alice" (its I becomes l).  The
// price: i, l, I, 1 and | share a key, so "Neil" and "Nell" collide -
// inevitable once "aIice" must meet "alice" and case must not matter
// ("Nell" ~ "NElL" ~ "NEIL" ~ "Neil").
icu::UnicodeString key_of(const Checker& ch, std::string_view nick, UErrorCode& status) {
  icu::UnicodeString s = icu::UnicodeString::fromUTF8(
      icu::StringPiece(nick.data(), static_cast<int32_t>(nick.size())));
  s.foldCase();
  if (s.isBogus()) status = U_MEMORY_ALLOCATION_ERROR;
  for (int step = 0; step < 8 && U_SUCCESS(status); ++step) {
    icu::UnicodeString next = key_step(ch, s, status);
    if (next == s) break;
    s = next;
  }
  return U_SUCCESS(status) ? s : icu::UnicodeString();
}

}  // namespace

std::string refusal(std::string_view nick) {
  if (nick.empty()) return "nick is empty";
  if (nick.size() > kMaxBytes) return "nick is too long";
  std::vector<UChar32> cps;
  std::string reason;
  if (!decode(nick, cps, reason)) return reason;
  const Checker& ch = checker();
  if (U_FAILURE(ch.status)) return icu_failure(ch.status);
  reason = spoof_check_reason(ch, nick);
  if (reason.empty()) reason = mixed_script_reason(ch, cps);
  if (!reason.empty()) return reason;
  UErrorCode status = U_ZERO_ERROR;
  key_of(ch, nick, status);
  return U_FAILURE(status) ? icu_failure(status) : std::string();
}

std::string key(std::string_view nick) {
  if (nick.size() > kMaxBytes) return {};
  const Checker& ch = checker();
  if (U_FAILURE(ch.status)) return {};
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString k = key_of(ch, nick, status);
  if (U_FAILURE(status)) return {};
  std::string out;
  k.toUTF8String(out);
  return out;
}

}  // namespace sc::nickname
