#include "sanitize.hpp"

#include <cwchar>

namespace sc::tui {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Bidirectional overrides and isolates reorder what follows them on screen,
// so a peer could disguise text; show them instead of obeying them.
bool is_bidi_control(char32_t cp) {
  return cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C;
}

bool is_c0_c1_or_del(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace

std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t need;
  char32_t value;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    cp = kReplacement;
    return 1;
  }
  std::size_t n = 1;
  for (; n <= need; ++n) {
    if (i + n >= s.size()) break;
    const auto b = static_cast<unsigned char>(s[i + n]);
    const bool ok = n == 1 ? (b >= lo && b <= hi) : is_continuation(b);
    if (!ok) break;
    value = (value << 6) | (b & 0x3F);
  }
  if (n <= need) {
    cp = kReplacement;
    return n;
  }
  cp = value;
  return n;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int char_width(char32_t cp) {
  if (is_c0_c1_or_del(cp) || is_bidi_control(cp)) return -1;
  if (cp == 0xFFFD) return 1;
  return ::wcwidth(static_cast<wchar_t>(cp));
}

std::string caret_notation(char32_t cp) {
  std::string out;
  if (cp < 0x20 || cp == 0x7F) {
    out = {'^', static_cast<char>(cp ^ 0x40)};
  } else if (cp >= 0x80 && cp <= 0x9F) {
    out = {'M', '-', '^', static_cast<char>((cp - 0x80) + 0x40)};
  } else {
    static const char hex[] = "0123456789ABCDEF";
    out = "<U+";
    std::string digits;
    for (char32_t v = cp; v != 0 || digits.size() < 4; v >>= 4) digits.insert(digits.begin(), hex[v & 0xF]);
    out += digits + ">";
  }
  return out;
}

std::vector<Cell> sanitize(std::string_view s) {
  std::vector<Cell> cells;
  cells.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    i += decode_utf8(s, i, cp);
    const int w = char_width(cp);
    // A combining mark joins the character before it; alone it has nothing
    // to combine with and is shown by its number.
    if (w == 0 && !cells.empty() && !cells.back().control) {
      append_utf8(cells.back().text, cp);
      continue;
    }
    Cell c;
    if (w <= 0) {
      c.text = caret_notation(cp);
      c.width = static_cast<int>(c.text.size());
      c.control = true;
    } else {
      append_utf8(c.text, cp);
      c.width = w;
    }
    cells.push_back(std::move(c));
  }
  return cells;
}

std::string sanitize_plain(std::string_view s) {
  std::string out;
  for (const Cell& c : sanitize(s)) out += c.text;
  return out;
}

int display_width(std::string_view s) {
  int w = 0;
  for (const Cell& c : sanitize(s)) w += c.width;
  return w;
}

std::vector<std::pair<std::size_t, std::size_t>> wrap_cells(const std::vector<Cell>& cells, int first_w,
                                                            int next_w) {
  std::vector<std::pair<std::size_t, std::size_t>> rows;
  std::size_t start = 0;
  int limit = first_w;
  while (start < cells.size()) {
    int w = 0;
    std::size_t end = start, last_space = 0;
    while (end < cells.size() && (w + cells[end].width <= limit || end == start)) {
      if (cells[end].text == " ") last_space = end;
      w += cells[end++].width;
    }
    if (end < cells.size() && last_space > start) end = last_space + 1;
    rows.emplace_back(start, end);
    start = end;
    limit = next_w;
  }
  if (rows.empty()) rows.emplace_back(0, 0);
  return rows;
}

}  // namespace sc::tui
