#include "xdg.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

namespace sc::tui {

std::string xdg_dir(const char* env, const char* home_fallback) {
  const char* base = std::getenv(env);
  if (base != nullptr && base[0] == '/') return std::string(base) + "/sockchat";
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') return {};
  return std::string(home) + "/" + home_fallback + "/sockchat";
}

bool make_private_dirs(const std::string& dir) {
  for (std::size_t at = 1; at <= dir.size(); ++at) {
    if (at != dir.size() && dir[at] != '/') continue;
    const std::string part = dir.substr(0, at);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

}  // namespace sc::tui
