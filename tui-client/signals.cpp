#include "signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <initializer_list>

namespace sc::tui {

namespace {

int g_write_fd = -1;

extern "C" void on_signal(int sig) {
  const int saved = errno;
  const auto b = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = write(g_write_fd, &b, 1);  // full pipe: a wake is queued anyway
  errno = saved;
}

}  // namespace

int install_signal_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  g_write_fd = fds[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) sigaction(sig, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return fds[0];
}

int read_signals(int fd, bool& resized) {
  int term = 0;
  unsigned char buf[64];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == SIGWINCH) {
        resized = true;
      } else {
        term = buf[i];
      }
    }
  }
  return term;
}

}  // namespace sc::tui
