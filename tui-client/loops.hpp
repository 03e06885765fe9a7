// The two front ends over one App: the full-screen terminal UI and the
// line-oriented --plain mode.  Both are single-threaded poll() loops on the
// UI thread; each returns the process exit status.
#pragma once

#include <string>

#include "app.hpp"
#include "autolog.hpp"

namespace sc::tui {

struct StartTarget {
  bool given = false;  // HOST was on the command line
  std::string host, port;
};

// Each turn's new lines also go to the message log (off: does nothing).
int run_tui(App& app, const StartTarget& target, int signal_fd, Autolog& log);
int run_plain(App& app, const StartTarget& target, int signal_fd, Autolog& log);

}  // namespace sc::tui
