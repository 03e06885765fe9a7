// Where a password comes from when the full-screen UI cannot ask for it:
// --password-file, or (in --plain) the controlling terminal with echo off.
// Never the command line, where every user's ps would show it.
#pragma once

#include <string>

namespace sc::tui {

// The file's first line without its line end.  False with `why`.
bool read_password_file(const std::string& path, std::string& password, std::string& why);
// A warning when others than the owner may read the file; empty otherwise.
std::string password_file_warning(const std::string& path);
// Asks on /dev/tty with echo off.  False with `why` (no terminal, EOF).
bool ask_password_on_tty(const std::string& account, std::string& password, std::string& why);

}  // namespace sc::tui
