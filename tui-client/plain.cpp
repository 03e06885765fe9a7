// --plain: no curses.  Commands are read line by line from stdin (the same
// slash commands as the input line); every event is printed as one line on
// stdout, flushed at once, with control characters in caret notation.
//
// Output lines (stable; scripts may rely on them):
//   connecting to HOST:PORT [with TLS]
//   connected to HOST:PORT as client ID (server NAME)
//   connect failed: REASON (TLS: connect failed: refused HOST:PORT: WHY)
//   security TLSv1.3 CIPHER, verified (CA)|(pinned key)|(known key) |
//     security PLAINTEXT to non-loopback host (after "connected"; none
//     for plaintext over loopback)
//   signing in as NAME | signed in as NAME | sign-in as NAME failed: WHY
//   nick NAME | nick NAME rejected: REASON; you have no nick
//   time 2026-11-26 12:00:01.123 CST (UTC+08:00)
//   N/N responses in X ms (rtt min/median/max A/B/C ms)
//   name SERVERNAME
//   clients N, then N lines: client ID NICK|- ADDR:PORT [(you)]
//   whois NICK|-: client ID at ADDR:PORT, connected since YYYY-MM-DD HH:MM:SS [(you)]
//   sending to ID: TEXT (pending)
//   delivered MESSAGEID to ID
//   not delivered to ID: no such client|not acknowledged|rate limited (REASON)
//   message from ID [(NICK)] ADDR:PORT: TEXT
//   joined ID NICK|- ADDR:PORT | left ID NICK|- (REASON) | renamed ID NICK
//   server shutting down: REASON | server error CODE: REASON
//   disconnected | connection lost: REASON
//   error: WHAT (a command that could not be run)
// At EOF on stdin the client waits (bounded) for outstanding answers, says
// BYE and exits 0.  With HOST given, a failed connect exits 1.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <stdexcept>

#include "loops.hpp"
#include "sanitize.hpp"
#include "signals.hpp"

namespace sc::tui {

namespace {

constexpr auto kMinDrainWait = std::chrono::seconds(5);

class Printer {
 public:
  // Prints the lines added since the last call.
  void flush(const State& s) {
    next_ = std::max(next_, s.log.first_seq());
    for (; next_ < s.log.end_seq(); ++next_) {
      const std::string line = sanitize_plain(s.log[next_ - s.log.first_seq()].text);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
  }

 private:
  std::uint64_t next_ = 0;
};

// Splits stdin into lines as bytes arrive.  Returns false at EOF.
bool read_lines(std::string& buf, std::vector<std::string>& lines) {
  char chunk[4096];
  const ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    if (!buf.empty()) lines.push_back(std::move(buf));
    buf.clear();
    return false;
  }
  buf.append(chunk, static_cast<std::size_t>(n));
  std::size_t start = 0, nl;
  while ((nl = buf.find('\n', start)) != std::string::npos) {
    lines.push_back(buf.substr(start, nl - start));
    start = nl + 1;
  }
  buf.erase(0, start);
  return true;
}

}  // namespace

int run_plain(App& app, const StartTarget& target, int signal_fd, Autolog& log) {
  Printer out;
  // With HOST given, a connect that fails ends the run with status 1.
  bool starting = target.given;
  if (starting) {
    app.connect(target.host, target.port);
    out.flush(app.state());
  }
  std::string partial;
  std::deque<std::string> queued;  // lines read but not yet run
  bool stdin_open = true;
  Clock::time_point eof_at{};
  while (!app.quit_done()) {
    if (starting && app.state().phase() != Phase::Connecting) {
      if (app.connect_failed()) return 1;
      starting = false;
    }
    // Commands wait while a connection is being set up or torn down, so
    // "/connect" followed by "/time" works in a script.
    while (!queued.empty() && !app.quit_done() &&
           (app.state().phase() == Phase::Connected || app.state().phase() == Phase::Disconnected)) {
      app.on_line(queued.front());
      queued.pop_front();
      out.flush(app.state());
    }
    if (app.quit_done()) break;
    const auto now = Clock::now();
    int timeout = app.poll_timeout_ms(now);
    // The end of input waits for a connect in progress (bounded by its own
    // timeouts): a script's commands may not have been run yet.
    const Phase phase = app.state().phase();
    const bool settling = phase == Phase::Connecting || phase == Phase::Greeting;
    if (!stdin_open && queued.empty() && !settling) {
      // Waiting for the last answers: wake up for the drain deadline too.
      const auto wait = std::max<std::chrono::steady_clock::duration>(
          kMinDrainWait, std::chrono::seconds(app.state().session.hello.delivery_timeout_s + 2));
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(eof_at + wait - now).count();
      if (app.outstanding() == 0 || left <= 0) {
        app.request_quit();
        out.flush(app.state());
        if (app.quit_done()) break;
      } else {
        timeout = timeout < 0 ? static_cast<int>(left) : std::min<int>(timeout, static_cast<int>(left));
      }
    }
    const bool want_input = stdin_open && queued.empty();
    pollfd fds[4] = {{signal_fd, POLLIN, 0},
                     {want_input ? STDIN_FILENO : -1, POLLIN, 0},
                     {app.wake_fd(), POLLIN, 0},
                     {app.write_fd(), POLLOUT, 0}};
    if (poll(fds, 4, timeout) < 0 && errno != EINTR) throw std::runtime_error("poll failed");
    bool resized = false;
    if (const int sig = read_signals(signal_fd, resized); sig != 0) {
      app.request_quit();
      out.flush(app.state());
      return 128 + sig;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      std::vector<std::string> lines;
      stdin_open = read_lines(partial, lines);
      if (!stdin_open) eof_at = Clock::now();
      for (std::string& l : lines) queued.push_back(std::move(l));
    }
    if (fds[3].revents != 0) app.on_writable();
    if (fds[2].revents & POLLIN) app.on_connection_ready();
    app.on_tick(Clock::now());
    out.flush(app.state());
    app.send_due_acks();  // only now are the messages on stdout
    out.flush(app.state());
    log.flush(app.state().log);
  }
  return 0;
}

}  // namespace sc::tui
