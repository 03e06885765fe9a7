// Signals become bytes on a self-pipe that the event loops poll(): the
// handler only write()s the signal number, all work happens in the loop.
#pragma once

namespace sc::tui {

// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGWINCH and ignores
// SIGPIPE.  Returns the read end of the pipe, or -1 with errno set.
int install_signal_pipe();

// Reads the pending signal numbers; returns the last terminating signal
// (SIGINT/SIGTERM/SIGHUP) seen or 0, and sets `resized` on SIGWINCH.
int read_signals(int fd, bool& resized);

}  // namespace sc::tui
