// Conversations by name, like irssi's query windows.  Pure.
//
// Window 1 is "all": every line of the one Scrollback.  Every other window
// is a conversation with one nick and shows the lines whose LogLine::peer
// is that nick in any ASCII case: messages from them and to them.  A
// window is a filter over the one log, not a copy, so a sent line that
// turns "delivered" changes in both, and line numbers (seqs) stay the
// Session's, which ACKs by them.  Windows are keyed by nick, not client
// id: a conversation survives its partner reconnecting under the same
// nick with a new id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "scrollback.hpp"

namespace sc::tui {

bool same_nick(std::string_view a, std::string_view b);  // ASCII case-insensitive
// True when `text` names `nick` as a word of its own, in any ASCII case.
bool contains_nick(std::string_view text, std::string_view nick);

struct Window {
  std::string nick;            // empty: the "all" window
  std::size_t scroll = 0;      // this window's lines scrolled back ("all": Scrollback::scroll)
  std::uint64_t cleared = 0;   // /clear: lines before this seq are not shown
  int unread = 0;              // messages in since the window was last active
  int highlights = 0;          // of those, the ones that name our nick

  bool shows(const LogLine& line, std::uint64_t seq) const {
    return seq >= cleared && (nick.empty() || (!line.peer.empty() && same_nick(line.peer, nick)));
  }
};

class Windows {
 public:
  Windows() : list_(1) {}

  std::size_t size() const { return list_.size(); }
  const Window& operator[](std::size_t i) const { return list_[i]; }
  Window& at(std::size_t i) { return list_[i]; }
  std::size_t active_index() const { return active_; }
  const Window& active() const { return list_[active_]; }
  Window& active() { return list_[active_]; }

  // The window for `nick`; size() when there is none.
  std::size_t find(std::string_view nick) const;
  // The window for `nick`, opened at the end when there is none.
  std::size_t open(const std::string& nick);
  // Makes window i active and marks it read; false when there is none.
  bool select(std::size_t i);
  // The next (dir 1) or previous (dir -1) window, round.
  void cycle(int dir);
  // Closes the active conversation ("all" stays); false for "all".
  bool close_active();

 private:
  std::vector<Window> list_;
  std::size_t active_ = 0;
};

}  // namespace sc::tui
