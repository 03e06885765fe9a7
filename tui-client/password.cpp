#include "password.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sc::tui {

namespace {

constexpr std::size_t kMaxLine = 1024;  // a password is at most 255 bytes

// Reads up to a newline or EOF; false on a read error.
bool read_line(int fd, std::string& line) {
  char c;
  for (;;) {
    const ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0 || c == '\n' || line.size() >= kMaxLine) return true;
    line.push_back(c);
  }
}

}  // namespace

bool read_password_file(const std::string& path, std::string& password, std::string& why) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = "cannot read the password file " + path + ": " + std::strerror(errno);
    return false;
  }
  password.reserve(kMaxLine + 1);  // no reallocation leaves a copy behind
  const bool ok = read_line(fd, password);
  close(fd);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (!ok || password.empty()) {
    why = "the password file " + path + (ok ? " has an empty first line" : " cannot be read");
    return false;
  }
  return true;
}

std::string password_file_warning(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) == 0) return {};
  return "warning: others can read the password file " + path + " (chmod 600 it)";
}

bool ask_password_on_tty(const std::string& account, std::string& password, std::string& why) {
  const int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    why = "no terminal to ask for the password on; use --password-file FILE";
    return false;
  }
  termios old{};
  const bool is_tty = tcgetattr(fd, &old) == 0;
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  if (is_tty) tcsetattr(fd, TCSAFLUSH, &quiet);
  const std::string prompt = "Password for " + account + ": ";
  bool ok = write(fd, prompt.data(), prompt.size()) >= 0;
  password.reserve(kMaxLine + 1);
  ok = ok && read_line(fd, password);
  if (is_tty) tcsetattr(fd, TCSAFLUSH, &old);
  close(fd);
  if (!ok || password.empty()) why = "no password given";
  return ok && !password.empty();
}

}  // namespace sc::tui
