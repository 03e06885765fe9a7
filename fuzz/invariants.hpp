// What the fuzz targets assert, and the independent reference checks they
// compare the codec against.  Shared by the libFuzzer binaries and the
// regression replay test of the normal suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

// A violated invariant names itself on stderr, then traps: libFuzzer (and
// the replay test) sees a crash and keeps the input that caused it.
#define FUZZ_REQUIRE(cond)                                              \
  do {                                                                  \
    if (!(cond)) sc::fuzz::invariant_failed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace sc::fuzz {

[[noreturn]] void invariant_failed(const char* what, const char* file, int line);

// Well-formed UTF-8 as tabulated in Unicode's Table 3-7, written
// independently of the codec's decoder so that the two can disagree.
bool reference_utf8(std::string_view s);

// A nick by the protocol's rules (1..32 bytes, UTF-8, no control character,
// no White_Space), from the reference decoder and the Unicode tables.
bool reference_nick(std::string_view s);

}  // namespace sc::fuzz
