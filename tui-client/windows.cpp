#include "windows.hpp"

namespace sc::tui {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;
}

}  // namespace

bool same_nick(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool contains_nick(std::string_view text, std::string_view nick) {
  if (nick.empty() || text.size() < nick.size()) return false;
  for (std::size_t i = 0; i + nick.size() <= text.size(); ++i) {
    if (i > 0 && word_char(text[i - 1])) continue;
    const std::size_t end = i + nick.size();
    if (end < text.size() && word_char(text[end])) continue;
    if (same_nick(text.substr(i, nick.size()), nick)) return true;
  }
  return false;
}

std::size_t Windows::find(std::string_view nick) const {
  for (std::size_t i = 1; i < list_.size(); ++i) {
    if (same_nick(list_[i].nick, nick)) return i;
  }
  return list_.size();
}

std::size_t Windows::open(const std::string& nick) {
  const std::size_t i = find(nick);
  if (i < list_.size()) return i;
  Window w;
  w.nick = nick;
  list_.push_back(std::move(w));
  return list_.size() - 1;
}

bool Windows::select(std::size_t i) {
  if (i >= list_.size()) return false;
  active_ = i;
  list_[i].unread = 0;
  list_[i].highlights = 0;
  return true;
}

void Windows::cycle(int dir) { select((active_ + (dir > 0 ? 1 : size() - 1)) % size()); }

bool Windows::close_active() {
  if (active_ == 0) return false;
  list_.erase(list_.begin() + static_cast<std::ptrdiff_t>(active_));
  select(active_ - 1);
  return true;
}

}  // namespace sc::tui
