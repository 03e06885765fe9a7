// listen-pause: a TCP server that calls listen() and then waits before it
// calls accept().  Lab experiment 3 (docs/lab/03-listen-backlog.sh).
//
// It shows that the kernel, not the application, completes TCP handshakes:
// while this program sleeps, clients' connect() calls succeed and their
// connections wait in the listening socket's accept queue (on Linux at most
// backlog + 1 of them; SYNs beyond that are dropped and the client retries).
// After the pause it accepts what is queued and prints each peer and the
// bytes that peer had already sent: the kernel kept those for us too.
//
// Usage: listen-pause [--port N] [--port-file FILE] [--backlog N]
//                     [--pause S] [--accept-for S]
// Listens on 127.0.0.1.  The pause ends after S seconds or at SIGUSR1
// (kill -USR1 PID), whichever comes first; then it accepts connections for
// --accept-for seconds and exits.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "common/codec.hpp"
#include "common/net.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  std::string port_file;
  int backlog = 2;
  int pause_s = 30;
  int accept_for_s = 10;
};

constexpr const char* kUsage =
    "usage: listen-pause [--port N] [--port-file FILE] [--backlog N] [--pause S] "
    "[--accept-for S]\n"
    "Listens on 127.0.0.1 (port 0: any free port) with the given backlog, waits\n"
    "--pause seconds (or until SIGUSR1) before calling accept(), then accepts for\n"
    "--accept-for seconds, printing each peer and the bytes it had sent.\n";

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "listen-pause: %s\n%s", why, kUsage);
  std::exit(2);
}

int number(const char* s, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) usage("bad number");
  return static_cast<int>(v);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view opt = argv[i];
    if (opt == "-h" || opt == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (opt == "--port" && value) o.port = number(value, 0, 65535);
    else if (opt == "--port-file" && value) o.port_file = value;
    else if (opt == "--backlog" && value) o.backlog = number(value, 0, 65535);
    else if (opt == "--pause" && value) o.pause_s = number(value, 0, 3600);
    else if (opt == "--accept-for" && value) o.accept_for_s = number(value, 0, 3600);
    else usage(value ? "unknown option" : "unknown option or missing value");
  }
  return o;
}

// Peer bytes go to a terminal: printable ASCII as is, the rest as escapes.
std::string escaped(const unsigned char* p, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] == '\n') out += "\\n";
    else if (p[i] == '\\') out += "\\\\";
    else if (p[i] >= 0x20 && p[i] < 0x7f) out += static_cast<char>(p[i]);
    else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", p[i]);
      out += hex;
    }
  }
  return out;
}

// For a listening socket, TCP_INFO reports the accept queue: tcpi_unacked
// is how many connections wait, tcpi_sacked the backlog (what `ss -ltn`
// shows as Recv-Q and Send-Q).
void print_accept_queue(int listen_fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return;
  std::printf("accept queue: %u connection(s) waiting, backlog %u\n", info.tcpi_unacked,
              info.tcpi_sacked);
}

// Sleeps until SIGUSR1 or the timeout.  SIGUSR1 is blocked (see main), so
// sigtimedwait() takes it without a signal handler.
void pause_before_accept(int seconds) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  const auto start = Clock::now();
  timespec limit{seconds, 0};
  int got = -1;
  do {
    got = sigtimedwait(&usr1, nullptr, &limit);
  } while (got < 0 && errno == EINTR);
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("pause over after %.1f s (%s): calling accept() now\n", waited,
              got == SIGUSR1 ? "SIGUSR1" : "timeout");
}

// Reports one accepted connection and whatever its peer has sent so far
// (waiting a moment, for a peer that connected only just now).
void report(const sc::net::AcceptResult& r, int n) {
  pollfd p{r.fd, POLLIN, 0};
  poll(&p, 1, 300);
  unsigned char buf[256];
  const sc::net::IoResult in = sc::net::recv_some(r.fd, buf, sizeof buf);
  const std::size_t got = in.status == sc::net::IoStatus::Ok ? in.bytes : 0;
  std::printf("accepted connection %d from %s; it had sent %zu byte(s): \"%s\"\n", n,
              sc::format_addr(r.peer).c_str(), got, escaped(buf, got).c_str());
  close(r.fd);
}

void accept_for(int listen_fd, int seconds) {
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  int accepted = 0;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{listen_fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const sc::net::AcceptResult r = sc::net::accept_client(listen_fd);
    if (r.status == sc::net::AcceptStatus::Ok) {
      report(r, ++accepted);
    } else if (r.status != sc::net::AcceptStatus::WouldBlock) {
      std::printf("accept: %s\n", std::strerror(r.err));
      break;
    }
  }
  std::printf("accepted %d connection(s); exiting\n", accepted);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  // Output goes to files in the lab scripts: one line at a time, in order.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Blocked before anyone can learn our port, so an early SIGUSR1 waits for
  // sigtimedwait() instead of killing us.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, nullptr);

  std::string err;
  const int fd = sc::net::listen_tcp("127.0.0.1", static_cast<std::uint16_t>(o.port), o.backlog, err);
  if (fd < 0) {
    std::fprintf(stderr, "listen-pause: %s\n", err.c_str());
    return 1;
  }
  const unsigned port = sc::net::local_addr(fd).port;
  if (!o.port_file.empty()) std::ofstream(o.port_file) << port << '\n';
  std::printf("listening on 127.0.0.1:%u with backlog %d (pid %d); accept() not called "
              "for up to %d s\n",
              port, o.backlog, static_cast<int>(getpid()), o.pause_s);
  pause_before_accept(o.pause_s);
  print_accept_queue(fd);
  accept_for(fd, o.accept_for_s);
  close(fd);
  return 0;
}
