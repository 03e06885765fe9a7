// The full-screen loop: poll() on the terminal, the signal pipe, the
// connection's wake fd and (while output waits) its socket for POLLOUT,
// with a timeout only from real deadlines.  Nothing in it blocks.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "loops.hpp"
#include "screen.hpp"
#include "signals.hpp"

namespace sc::tui {

namespace {

// One turn's output: paint what changed, ring, then ACK what is now on
// screen (the protocol wants the user to have seen a message before ACK).
void finish_turn(App& app, Screen& screen, unsigned dirty, Autolog& log) {
  log.flush(app.state().log);  // cheap when nothing is new
  for (int round = 0; dirty != kNothing && round < 2; ++round) {
    app.prepare_paint();
    screen.paint(app.state());
    if (app.take_bell()) screen.bell();
    dirty = app.send_due_acks();
  }
}

}  // namespace

int run_tui(App& app, const StartTarget& target, int signal_fd, Autolog& log) {
  Screen screen(app.state().options.color);
  app.on_resize(screen.rows(), screen.cols());
  app.prepare_paint();
  screen.paint(app.state());
  if (target.given) finish_turn(app, screen, app.connect(target.host, target.port), log);
  int exit_status = 0;
  while (!app.quit_done()) {
    // A negative fd is ignored by poll(): no connection, or no output waiting.
    pollfd fds[4] = {{STDIN_FILENO, POLLIN, 0},
                     {signal_fd, POLLIN, 0},
                     {app.wake_fd(), POLLIN, 0},
                     {app.write_fd(), POLLOUT, 0}};
    if (poll(fds, 4, app.poll_timeout_ms(Clock::now())) < 0 && errno != EINTR) {
      throw std::runtime_error("poll failed");
    }
    unsigned dirty = kNothing;
    bool resized = false;
    if (const int sig = read_signals(signal_fd, resized); sig != 0) {
      app.request_quit();  // says BYE when it can; we do not wait for the answer
      exit_status = 128 + sig;
      break;
    }
    if (resized) {
      screen.update_size();
      dirty |= app.on_resize(screen.rows(), screen.cols());
    }
    if (fds[0].revents & (POLLHUP | POLLERR)) break;  // the terminal went away
    if (fds[0].revents & POLLIN) {
      Key key;
      for (int i = 0; i < 4096 && screen.read_key(key); ++i) {
        if (key.code == Key::Code::Redraw) screen.force_full_redraw();
        dirty |= app.on_key(key);
      }
    }
    if (fds[3].revents != 0) dirty |= app.on_writable();  // POLLERR too: the write says why
    if (fds[2].revents & POLLIN) dirty |= app.on_connection_ready();
    dirty |= app.on_tick(Clock::now());
    finish_turn(app, screen, dirty, log);
  }
  return exit_status;
}

}  // namespace sc::tui
