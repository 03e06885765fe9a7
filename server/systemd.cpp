// systemd's notify, socket-activation and journal protocols spoken directly,
// so the server needs no libsystemd.  The wire formats are documented in
// sd_notify(3), sd_listen_fds(3) and systemd.exec(5) ($JOURNAL_STREAM).
// Nothing here logs: callers decide what is worth a log line.
#include "server/systemd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sc::sd {
namespace {

// The fd systemd passes first (SD_LISTEN_FDS_START).
constexpr int kListenFdsStart = 3;

// Parses all of `text` as a decimal unsigned number; anything else
// (empty, sign, spaces, trailing junk, overflow) is rejected.
template <typename T>
bool parse_exact(std::string_view text, T& out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end;
}

std::string_view env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string_view(v) : std::string_view();
}

// True when the variable `name` holds exactly our pid.
bool env_is_our_pid(const char* name) {
  pid_t pid = 0;
  return parse_exact(env(name), pid) && pid == getpid();
}

// Fills `addr` from $NOTIFY_SOCKET and returns the address length, or 0
// when the name is unusable.  An abstract name ("@x") is a leading NUL and
// has no terminator, so its length counts only the bytes of the name:
// sizeof(sockaddr_un) would send trailing NULs as part of the name and hit
// a different socket.
socklen_t notify_address(std::string_view name, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (name.size() < 2 || (name[0] != '/' && name[0] != '@')) return 0;
  if (name.size() > sizeof addr.sun_path) return 0;
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name[0] == '@') {
    addr.sun_path[0] = '\0';
  } else if (name.size() == sizeof addr.sun_path) {
    return 0;  // a path needs room for its terminator
  }
  auto len = offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/' ? 1 : 0);
  return static_cast<socklen_t>(len);
}

}  // namespace

bool notify(std::string_view state) {
  sockaddr_un addr{};
  socklen_t addr_len = notify_address(env("NOTIFY_SOCKET"), addr);
  if (addr_len == 0 || state.empty()) return false;

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(state.size());
}

int listen_fds() {
  int count = 0;
  bool ours = env_is_our_pid("LISTEN_PID") && parse_exact(env("LISTEN_FDS"), count) &&
              count >= 1 && count <= 1024;  // more would be a corrupt variable
  // Unset in every case, as sd_listen_fds(unset_environment=1) does, so a
  // child never mistakes the variables for its own.
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (!ours) return 0;
  // The fds are ours now; they must not leak into anything we exec.
  for (int fd = kListenFdsStart; fd < kListenFdsStart + count; ++fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return 0;  // not actually open: treat as no activation
    if (!(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  return count;
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (!parse_exact(env("WATCHDOG_USEC"), usec) || usec == 0) return std::nullopt;
  // The limit keeps the value representable in chrono's signed count.
  if (usec > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  // Set but not our pid (empty or garbage included): the watchdog belongs
  // to another process of the service.
  if (std::getenv("WATCHDOG_PID") && !env_is_our_pid("WATCHDOG_PID")) return std::nullopt;
  // Pinging at half the timeout leaves the other half for scheduling delays.
  return std::chrono::microseconds(static_cast<std::int64_t>(usec / 2));
}

bool stderr_is_journal() {
  std::string_view value = env("JOURNAL_STREAM");
  auto colon = value.find(':');
  if (colon == std::string_view::npos) return false;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  if (!parse_exact(value.substr(0, colon), dev) || !parse_exact(value.substr(colon + 1), ino))
    return false;
  struct stat st{};
  if (fstat(STDERR_FILENO, &st) < 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == dev &&
         static_cast<std::uint64_t>(st.st_ino) == ino;
}

}  // namespace sc::sd
