// Nick policy beyond the wire rules: which nicks a server accepts, and when
// two nicks count as the same one.  The Unicode work is ICU's (its spoof
// checker implements Unicode TS #39, "Unicode Security Mechanisms"); this
// module only decides the policy.  It lives in its own library
// (sockchat-nickname) so that the codec and the socket helpers do not depend
// on ICU.
//
// Both functions are safe to call from several threads at once (see
// nickname.cpp for why).
#pragma once

#include <string>
#include <string_view>

namespace sc::nickname {

// Empty when `nick` is acceptable; otherwise a short reason for a
// BAD_REQUEST answer, e.g. "nick contains an invisible or format character
// (U+200B ZERO WIDTH SPACE)".  The caller has already checked the wire rules
// (valid UTF-8, 1-32 bytes, no control characters, no whitespace); this
// refuses, besides:
//  - format characters (Cf: zero-width spaces and joiners, bidi controls),
//    Default_Ignorable_Code_Point characters (U+3164 HANGUL FILLER,
//    variation selectors, ...), private-use, unassigned and noncharacter
//    code points;
//  - a repeated combining mark, digits of two numbering systems, a mark
//    hidden by its base (i + U+0307);
//  - a letter of another script that looks like a letter of the nick's main
//    script ("pаypal" with a Cyrillic а), see nickname.cpp.
// A nick whose every letter is of one script is never refused for looking
// like a nick of another script (an all-Cyrillic "аріе"): key() makes it
// collide with the Latin look-alike instead.
std::string refusal(std::string_view nick);

// The key under which two nicks are the same for uniqueness: nicks that
// differ only in case or look alike (UTS #39 skeleton) share one key, e.g.
// "alice", "ALICE", "alicе" (Cyrillic е), "aIice" (capital I) and "a1ice".
// Diacritics stay: "Zoë" and "Zoe" have different keys.  The key is for
// comparison only, never for display.  Empty only if ICU failed, which
// refusal() reports for the same nick.
std::string key(std::string_view nick);

}  // namespace sc::nickname
