// systemd integration without libsystemd: readiness/status/watchdog
// notifications over a raw AF_UNIX datagram socket, socket activation, and
// detection of a journald stderr.  Every function is a cheap no-op when the
// server does not run under systemd.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sc::sd {

// Sends `state` ("READY=1", "STATUS=3 clients", "STOPPING=1", "WATCHDOG=1")
// to $NOTIFY_SOCKET.  Path and abstract ("@name") addresses both work.
// Returns false when NOTIFY_SOCKET is unset or sending failed.
bool notify(std::string_view state);

// Socket activation: when $LISTEN_PID is our pid and $LISTEN_FDS >= 1,
// returns the number of passed fds (the first is fd 3) and unsets the
// LISTEN_* variables so children do not inherit them; otherwise 0.
int listen_fds();

// Half of $WATCHDOG_USEC when the watchdog is on for this process
// ($WATCHDOG_PID unset or equal to our pid); nullopt otherwise.
std::optional<std::chrono::microseconds> watchdog_interval();

// True when stderr is connected to the journal: $JOURNAL_STREAM's
// "device:inode" equals fstat(2)'s st_dev:st_ino.
bool stderr_is_journal();

}  // namespace sc::sd
