// The only module that talks to curses.
//
// Start-up (locale already set by main, newterm, cbreak, noecho, keypad,
// nonl, colours when allowed, bracketed paste), tear-down, and restore(),
// which fatal paths call before they print anything: while a Screen exists
// nothing else may write to the terminal, stderr included.
//
// paint() only reads State: handlers in App change it, the loop calls
// paint() once per turn.
#pragma once

#include "app.hpp"
#include "paste_reader.hpp"

namespace sc::tui {

class Screen {
 public:
  // Throws std::runtime_error when the terminal cannot be initialised.
  explicit Screen(bool color);
  ~Screen();
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  // Leaves curses mode and brings the terminal back to how we found it.
  // Idempotent and safe to call from any fatal path of the UI thread.
  static void restore();

  // After SIGWINCH: asks the kernel for the new size and tells curses.
  void update_size();
  int rows() const;
  int cols() const;

  // Non-blocking: false when no key is waiting.
  bool read_key(Key& key);

  void paint(const State& s) const;
  void force_full_redraw();
  void bell() const;

 private:
  void read_alt(Key& key);
  bool read_paste(Key& key);

  bool color_ = false;
  // Inside a bracketed paste the terminal is read in blocks (paste_reader.hpp).
  bool in_paste_ = false;
  bool paste_end_due_ = false;  // the block before the end marker went out; PasteEnd next
  PasteReader paste_;
};

}  // namespace sc::tui
