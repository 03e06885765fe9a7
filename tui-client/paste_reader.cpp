#include "paste_reader.hpp"

#include <algorithm>

namespace sc::tui {

namespace {

// Length of the longest suffix of `s` that is a proper prefix of `marker`.
std::size_t marker_prefix_at_end(std::string_view s, std::string_view marker) {
  for (std::size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

// Bytes at the end of `s` that start a UTF-8 sequence not yet complete.
std::size_t incomplete_utf8_at_end(std::string_view s) {
  for (std::size_t back = 1; back <= std::min<std::size_t>(3, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;  // plain ASCII, or stray continuation bytes the editor will drop
}

}  // namespace

PasteReader::Result PasteReader::feed(std::string_view bytes) {
  Result r;
  std::string data = std::move(held_);
  held_.clear();
  data.append(bytes);
  if (const std::size_t at = data.find(kEnd); at != std::string::npos) {
    r.text = data.substr(0, at);
    r.after = data.substr(at + kEnd.size());
    r.ended = true;
    return r;
  }
  std::size_t hold = marker_prefix_at_end(data, kEnd);
  if (hold == 0) hold = incomplete_utf8_at_end(data);
  held_ = data.substr(data.size() - hold);
  data.resize(data.size() - hold);
  r.text = std::move(data);
  return r;
}

}  // namespace sc::tui
