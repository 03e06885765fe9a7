// Tab completion in the input line, cycling like irssi: Tab replaces the
// word before the cursor with the first nick (or, for a /word at the start
// of the line, the first command) it begins, case-insensitively; Tab again
// moves on to the next, Shift-Tab back.  Pure.
//
// The cursor goes after the completion, but its tail stays tentative until
// the user moves on, so that typing the rest of the word by hand does not
// double it: printable keys that match the tail are taken as already
// typed, and the first one that does not match drops what is left of the
// tail before it is inserted ("al", Tab, "ice," reads "alice,"; "al", Tab,
// "ias" reads "alias").  A key typed straight after Tab that does not match
// keeps the whole completion ("al", Tab, "," reads "alice,").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "line_editor.hpp"

namespace sc::tui {

class Completion {
 public:
  // Tab or Shift-Tab.  `nicks` are the candidates for an ordinary word,
  // `commands` (without the slash) for a /word at the start.  Returns
  // false when nothing begins with the word.
  bool tab(LineEditor& ed, const std::vector<std::string>& nicks, const std::vector<std::string>& commands,
           bool backwards);
  // A printable key.  Returns true when it was handled here (typed through
  // the tentative tail); false: insert it as usual.
  bool type(LineEditor& ed, char32_t ch);
  // Any other key: the completion stands as it is.
  void accept() { active_ = false; }
  bool active() const { return active_; }
  // The candidates of the running completion, for a hint ("alice bob").
  std::string choices() const;

 private:
  void show(LineEditor& ed);

  bool active_ = false;
  std::u32string before_, after_;        // the line around the word
  std::u32string word_;                  // what was typed before Tab
  std::vector<std::u32string> matches_;  // sorted
  std::size_t index_ = 0;
  std::size_t typed_ = 0;                // tail code points typed through
};

}  // namespace sc::tui
