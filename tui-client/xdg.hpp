// Where sockchat keeps its files (the XDG base directories) and how it
// makes their directories: private (0700), since they hold keys, logs and
// the name of a password file.
#pragma once

#include <string>

namespace sc::tui {

// $ENV/sockchat when ENV names an absolute path (the XDG spec: a relative
// one is invalid and ignored), else $HOME/FALLBACK/sockchat; empty when
// neither is set.  xdg_dir("XDG_CONFIG_HOME", ".config").
std::string xdg_dir(const char* env, const char* home_fallback);

// mkdir -p, with mode 0700 for the directories it makes.  False with errno.
bool make_private_dirs(const std::string& dir);

}  // namespace sc::tui
