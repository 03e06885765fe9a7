#include "completion.hpp"

#include <algorithm>

#include "sanitize.hpp"

namespace sc::tui {

namespace {

std::u32string to_u32(const std::string& s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp;
    i += decode_utf8(s, i, cp);
    out.push_back(cp);
  }
  return out;
}

char32_t fold(char32_t c) { return c >= U'A' && c <= U'Z' ? c - U'A' + U'a' : c; }

bool begins_with(const std::u32string& s, const std::u32string& prefix) {
  if (prefix.size() > s.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (fold(s[i]) != fold(prefix[i])) return false;
  }
  return true;
}

bool is_space(char32_t c) { return c == U' ' || c == U'\t'; }

}  // namespace

bool Completion::tab(LineEditor& ed, const std::vector<std::string>& nicks,
                     const std::vector<std::string>& commands, bool backwards) {
  if (active_ && matches_.size() > 1) {
    index_ = (index_ + (backwards ? matches_.size() - 1 : 1)) % matches_.size();
    typed_ = 0;
    show(ed);
    return true;
  }
  if (active_) return false;  // the only match is shown already
  const std::u32string& line = ed.code_points();
  const std::size_t end = ed.cursor();
  std::size_t start = end;
  while (start > 0 && !is_space(line[start - 1])) --start;
  std::u32string word = line.substr(start, end - start);
  const bool command = start == 0 && word.starts_with(U'/');
  const std::u32string stem = command ? word.substr(1) : word;
  if (!command && stem.empty()) return false;  // Tab on nothing completes nothing
  std::vector<std::u32string> found;
  for (const std::string& c : command ? commands : nicks) {
    std::u32string cand = to_u32(c);
    if (!cand.empty() && begins_with(cand, stem)) {
      found.push_back(command ? U"/" + cand : cand);
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  if (found.empty()) return false;
  active_ = true;
  before_ = line.substr(0, start);
  after_ = line.substr(end);
  word_ = std::move(word);
  matches_ = std::move(found);
  index_ = backwards ? matches_.size() - 1 : 0;
  typed_ = 0;
  show(ed);
  return true;
}

// The cursor goes after the whole completion, as in irssi.
void Completion::show(LineEditor& ed) {
  const std::u32string& m = matches_[index_];
  ed.replace(before_ + m + after_, before_.size() + m.size());
}

bool Completion::type(LineEditor& ed, char32_t ch) {
  if (!active_) return false;
  const std::u32string& m = matches_[index_];
  const std::size_t at = std::min(m.size(), word_.size() + typed_);  // start of the tentative tail
  if (at < m.size() && fold(m[at]) == fold(ch)) {
    ++typed_;  // shown already
    if (at + 1 == m.size()) active_ = false;  // typed out in full
    return true;
  }
  active_ = false;
  if (typed_ == 0) return false;  // straight after Tab: the completion stands
  // The user is spelling out another word: keep only what they typed.
  ed.replace(before_ + m.substr(0, at) + after_, before_.size() + at);
  return false;
}

std::string Completion::choices() const {
  std::string out;
  for (const std::u32string& m : matches_) {
    if (!out.empty()) out += ' ';
    for (char32_t c : m) append_utf8(out, c);
  }
  return out;
}

}  // namespace sc::tui
