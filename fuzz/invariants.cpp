// Reference checks for the fuzz targets.  Deliberately table-driven where
// the codec is bit-driven: a fuzzer only finds a bug where the two disagree.
#include "invariants.hpp"

#include <cstdio>
#include <iterator>

namespace sc::fuzz {

void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", what, file, line);
  __builtin_trap();
}

namespace {

// One row of Unicode's Table 3-7 (well-formed byte sequences): the range of
// first bytes, the sequence length, and the range allowed for the second
// byte.  Later bytes are always 80..BF.
struct Row {
  std::uint8_t first_lo, first_hi;
  std::size_t len;
  std::uint8_t second_lo, second_hi;
};

constexpr Row kTable37[] = {
    {0x00, 0x7F, 1, 0x00, 0x00}, {0xC2, 0xDF, 2, 0x80, 0xBF},
    {0xE0, 0xE0, 3, 0xA0, 0xBF}, {0xE1, 0xEC, 3, 0x80, 0xBF},
    {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF},
    {0xF0, 0xF0, 4, 0x90, 0xBF}, {0xF1, 0xF3, 4, 0x80, 0xBF},
    {0xF4, 0xF4, 4, 0x80, 0x8F},
};

// Unicode's White_Space property (PropList.txt), as ranges.
struct Range {
  char32_t lo, hi;
};
constexpr Range kWhiteSpace[] = {
    {0x0009, 0x000D}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00A0, 0x00A0},
    {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
    {0x205F, 0x205F}, {0x3000, 0x3000},
};

const Row* row_for(std::uint8_t first) {
  for (const Row& r : kTable37)
    if (first >= r.first_lo && first <= r.first_hi) return &r;
  return nullptr;
}

// Length of the well-formed sequence at s[i], with its scalar value in
// *cp; 0 when the bytes there are not one.
std::size_t sequence_at(std::string_view s, std::size_t i, char32_t& cp) {
  const auto first = static_cast<std::uint8_t>(s[i]);
  const Row* row = row_for(first);
  if (!row || s.size() - i < row->len) return 0;
  cp = row->len == 1 ? first : first & (0x7Fu >> row->len);
  for (std::size_t k = 1; k < row->len; ++k) {
    const auto b = static_cast<std::uint8_t>(s[i + k]);
    const std::uint8_t lo = k == 1 ? row->second_lo : 0x80;
    const std::uint8_t hi = k == 1 ? row->second_hi : 0xBF;
    if (b < lo || b > hi) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return row->len;
}

bool in_ranges(char32_t cp, const Range* begin, const Range* end) {
  for (const Range* r = begin; r != end; ++r)
    if (cp >= r->lo && cp <= r->hi) return true;
  return false;
}

// C0, DEL and C1.
bool is_control(char32_t cp) { return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

bool reference_utf8(std::string_view s) {
  char32_t cp = 0;
  for (std::size_t i = 0, n = 0; i < s.size(); i += n)
    if ((n = sequence_at(s, i, cp)) == 0) return false;
  return true;
}

bool reference_nick(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  char32_t cp = 0;
  for (std::size_t i = 0, n = 0; i < s.size(); i += n) {
    if ((n = sequence_at(s, i, cp)) == 0) return false;
    if (is_control(cp) || in_ranges(cp, std::begin(kWhiteSpace), std::end(kWhiteSpace)))
      return false;
  }
  return true;
}

}  // namespace sc::fuzz
