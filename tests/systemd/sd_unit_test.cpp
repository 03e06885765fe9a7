// Unit tests of sc::sd (server/systemd.cpp) in-process: the notify wire
// format for path and abstract sockets, the strict parsing of the LISTEN_*,
// WATCHDOG_* and JOURNAL_STREAM variables, and what listen_fds() does to
// the environment and to the passed fds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server/systemd.hpp"

namespace {

// A datagram socket bound to `name` ("@x" = abstract), as systemd's would be.
struct Receiver {
  int fd = -1;
  std::string path;

  explicit Receiver(const std::string& name) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(name.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') {
      addr.sun_path[0] = '\0';
    } else {
      path = name;
      unlink(path.c_str());
    }
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
  }
  ~Receiver() {
    close(fd);
    if (!path.empty()) unlink(path.c_str());
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // The next datagram, or "" when none is queued.
  std::string take() const {
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

std::string unique_name(const char* what) {
  return std::string("sockchat-sdtest-") + what + "-" + std::to_string(getpid());
}

void set(const char* name, const std::string& value) { setenv(name, value.c_str(), 1); }

std::string our_pid() { return std::to_string(getpid()); }

// Puts a fresh socket (no FD_CLOEXEC) at fd 3 for the listen_fds() tests
// and restores whatever fd 3 was afterwards.
struct Fd3 {
  int saved = -1;
  Fd3() {
    saved = fcntl(3, F_DUPFD_CLOEXEC, 10);  // -1 when fd 3 was closed
    int s = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    if (s != 3) {
      REQUIRE(dup2(s, 3) == 3);
      close(s);
    }
  }
  ~Fd3() {
    if (saved >= 0) {
      dup2(saved, 3);
      close(saved);
    } else {
      close(3);
    }
  }
  Fd3(const Fd3&) = delete;
  Fd3& operator=(const Fd3&) = delete;
};

void clear_listen_env() {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
}

}  // namespace

TEST_CASE("notify sends the state to a path socket") {
  std::string path = "/tmp/" + unique_name("path");
  Receiver r(path);
  set("NOTIFY_SOCKET", path);
  CHECK(sc::sd::notify("READY=1"));
  CHECK(r.take() == "READY=1");
  CHECK(sc::sd::notify("STATUS=2 clients\nWATCHDOG=1"));
  CHECK(r.take() == "STATUS=2 clients\nWATCHDOG=1");
  unsetenv("NOTIFY_SOCKET");
}

TEST_CASE("notify reaches an abstract socket by its exact name") {
  std::string name = unique_name("abstract");
  Receiver r("@" + name);
  // Abstract names are compared over the address length, NULs included:
  // only an address exactly as long as the name reaches `r`; one of
  // sizeof(sockaddr_un) would name "<name>\0\0..." and reach nobody.
  Receiver padded("@" + name + std::string(1, '\0'));
  set("NOTIFY_SOCKET", "@" + name);
  CHECK(sc::sd::notify("STOPPING=1"));
  CHECK(r.take() == "STOPPING=1");
  CHECK(padded.take().empty());
  unsetenv("NOTIFY_SOCKET");
}

TEST_CASE("notify fails without a usable NOTIFY_SOCKET") {
  unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(sc::sd::notify("READY=1"));
  set("NOTIFY_SOCKET", "relative/path");
  CHECK_FALSE(sc::sd::notify("READY=1"));
  set("NOTIFY_SOCKET", "@");
  CHECK_FALSE(sc::sd::notify("READY=1"));
  set("NOTIFY_SOCKET", "/" + std::string(200, 'x'));
  CHECK_FALSE(sc::sd::notify("READY=1"));
  set("NOTIFY_SOCKET", "/tmp/" + unique_name("nobody-listens"));
  CHECK_FALSE(sc::sd::notify("READY=1"));
  unsetenv("NOTIFY_SOCKET");
}

TEST_CASE("listen_fds takes fds passed to this pid and marks them close-on-exec") {
  Fd3 fd3;
  set("LISTEN_PID", our_pid());
  set("LISTEN_FDS", "1");
  set("LISTEN_FDNAMES", "sockchatd.socket");
  CHECK(sc::sd::listen_fds() == 1);
  CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
  // Unset so that anything we start does not take the fds for its own.
  CHECK(std::getenv("LISTEN_PID") == nullptr);
  CHECK(std::getenv("LISTEN_FDS") == nullptr);
  CHECK(std::getenv("LISTEN_FDNAMES") == nullptr);
  // A second call sees nothing: the variables are gone.
  CHECK(sc::sd::listen_fds() == 0);
}

TEST_CASE("listen_fds ignores fds meant for someone else or described wrongly") {
  Fd3 fd3;
  const std::string pid = our_pid();
  struct Case {
    const char* listen_pid;
    const char* listen_fds;
  };
  const Case cases[] = {
      {"1", "1"},         // another process
      {nullptr, "1"},     // no pid at all
      {"", "1"},          // empty pid
      {"self", "0"},      // no fds
      {"self", "-1"},     // negative
      {"self", "1x"},     // trailing junk
      {"self", " 1"},     // leading space
      {"self", ""},       // empty count
      {"self", nullptr},  // no count
      {"self+", "1"},     // our pid with junk after it
  };
  for (const Case& c : cases) {
    clear_listen_env();
    if (c.listen_pid) {
      std::string v = c.listen_pid;
      if (v.rfind("self", 0) == 0) v = pid + v.substr(4);
      set("LISTEN_PID", v);
    }
    if (c.listen_fds) set("LISTEN_FDS", c.listen_fds);
    CAPTURE(c.listen_pid ? c.listen_pid : "(unset)");
    CAPTURE(c.listen_fds ? c.listen_fds : "(unset)");
    CHECK(sc::sd::listen_fds() == 0);
    CHECK(std::getenv("LISTEN_PID") == nullptr);
    CHECK(std::getenv("LISTEN_FDS") == nullptr);
  }
  // None of them may have touched fd 3.
  CHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) == 0);
}

TEST_CASE("watchdog_interval is half of WATCHDOG_USEC, for this pid only") {
  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
  CHECK_FALSE(sc::sd::watchdog_interval().has_value());

  set("WATCHDOG_USEC", "400000");
  REQUIRE(sc::sd::watchdog_interval().has_value());
  CHECK(sc::sd::watchdog_interval()->count() == 200000);

  set("WATCHDOG_PID", our_pid());
  REQUIRE(sc::sd::watchdog_interval().has_value());
  CHECK(sc::sd::watchdog_interval()->count() == 200000);

  set("WATCHDOG_PID", "1");
  CHECK_FALSE(sc::sd::watchdog_interval().has_value());
  set("WATCHDOG_PID", our_pid() + "0");
  CHECK_FALSE(sc::sd::watchdog_interval().has_value());
  set("WATCHDOG_PID", "");
  CHECK_FALSE(sc::sd::watchdog_interval().has_value());
  unsetenv("WATCHDOG_PID");

  for (const char* bad : {"0", "", "-400000", "400000us", " 400000", "4e5",
                          "99999999999999999999999"}) {
    CAPTURE(bad);
    set("WATCHDOG_USEC", bad);
    CHECK_FALSE(sc::sd::watchdog_interval().has_value());
  }
  unsetenv("WATCHDOG_USEC");
}

TEST_CASE("stderr_is_journal compares JOURNAL_STREAM with stderr's device and inode") {
  struct stat st{};
  REQUIRE(fstat(STDERR_FILENO, &st) == 0);
  const std::string dev = std::to_string(st.st_dev);
  const std::string ino = std::to_string(st.st_ino);

  unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(sc::sd::stderr_is_journal());
  set("JOURNAL_STREAM", dev + ":" + ino);
  CHECK(sc::sd::stderr_is_journal());
  set("JOURNAL_STREAM", dev + ":" + std::to_string(st.st_ino + 1));
  CHECK_FALSE(sc::sd::stderr_is_journal());
  set("JOURNAL_STREAM", std::to_string(st.st_dev + 1) + ":" + ino);
  CHECK_FALSE(sc::sd::stderr_is_journal());
  for (const std::string& bad : {dev + ino, dev + ":", ":" + ino, dev + ":" + ino + "x",
                                 dev + ":" + ino + ":1"}) {
    CAPTURE(bad);
    set("JOURNAL_STREAM", bad);
    CHECK_FALSE(sc::sd::stderr_is_journal());
  }
  unsetenv("JOURNAL_STREAM");
}
