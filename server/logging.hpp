// Logging set-up: spdlog's default logger writing to stderr, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace sc::server {

// Under journald (`journal` true) every line starts with the syslog
// priority prefix ("<6>") and has no timestamp: the journal adds its own and
// reads the priority from the prefix.  Otherwise lines carry a timestamp.
void setup_logging(spdlog::level::level_enum level, bool journal);

// Peer-supplied text made safe for a log line (a terminal, the journal):
// printable ASCII stays, every other byte and the backslash become \xNN.
std::string log_safe(std::string_view peer_text);

}  // namespace sc::server
