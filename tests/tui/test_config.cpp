// The config file (parsed by libinih) and the message log: good files,
// bad lines named by number, unknown keys, the command line over the file,
// day files, sanitized lines and private permissions.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tui-client/autolog.hpp"
#include "tui-client/config.hpp"

using namespace sc::tui;

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const std::string& l : lines) all += l + "\n";
  return all;
}

// A directory of its own under /tmp, removed at the end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/sockchat-config-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Microseconds at a local date and time.
std::int64_t local_us(int year, int month, int day, int hour, int min) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm)) * 1'000'000;
}

}  // namespace

TEST_CASE("config: a good file sets every key, comments and blank lines aside") {
  const char* text =
      "# where I chat\n"
      "\n"
      "host = chat.example.org\n"
      "port = 2600\n"
      "tls = on\n"
      "nick = alice ; inline comment\n"
      "user = alice\n"
      "password-file = /home/alice/.pw\n"
      "colour = off\n"
      "bell = no\n"
      "log = yes\n"
      "reconnect = false\n"
      "tls-fingerprint = SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n";
  Settings s;
  std::vector<std::string> errors;
  CHECK(parse_config(text, "config", s, errors));
  CHECK(errors.empty());
  CHECK(s.host == "chat.example.org");
  CHECK(s.port == "2600");
  CHECK(s.tls == true);
  CHECK(s.nick == "alice");
  CHECK(s.user == "alice");
  CHECK(s.password_file == "/home/alice/.pw");
  CHECK(s.color == false);
  CHECK(s.bell == false);
  CHECK(s.log == true);
  CHECK(s.reconnect == false);
  CHECK(s.tls_fingerprint.has_value());
  CHECK_FALSE(s.tls_ca.has_value());
}

TEST_CASE("config: every bad line is named by file and line number") {
  const char* text =
      "host = ok.example\n"     // 1
      "nik = bob\n"             // 2: unknown key
      "port = 70000\n"          // 3
      "just words\n"            // 4: not key = value
      "tls = maybe\n"           // 5
      "host = again\n"          // 6: twice
      "password = hunter2\n"    // 7
      "nick = \n"               // 8: no value
      "[server]\n"              // 9
      "host = x\n";             // 10: in a section
  Settings s;
  std::vector<std::string> errors;
  CHECK_FALSE(parse_config(text, "/home/a/.config/sockchat/config", s, errors));
  const std::string all = joined(errors);
  INFO(all);
  CHECK(all.find("/home/a/.config/sockchat/config:2: unknown key 'nik'") != std::string::npos);
  CHECK(all.find(":3: port must be a number from 1 to 65535, not '70000'") != std::string::npos);
  CHECK(all.find(":4: expected 'key = value'") != std::string::npos);
  CHECK(all.find(":5: tls is on or off, not 'maybe'") != std::string::npos);
  CHECK(all.find(":6: host is set a second time") != std::string::npos);
  CHECK(all.find(":7: there is no password key") != std::string::npos);
  CHECK(all.find(":8: nick needs a value") != std::string::npos);
  CHECK(all.find(":10: [server]: sockchat's config has no sections") != std::string::npos);
  CHECK(all.find("hunter2") == std::string::npos);  // a password never ends up in an error
  CHECK(errors.size() == 8);
  CHECK(errors.front().starts_with("/home/a/.config/sockchat/config:2:"));  // in line order
  CHECK(s.host == "ok.example");  // the good lines are still read
}

TEST_CASE("config: a line too long for the parser is an error, not two lines") {
  const std::string text = "nick = bob\nhost = " + std::string(400, 'a') + "\nbell = off\n";
  Settings s;
  std::vector<std::string> errors;
  CHECK_FALSE(parse_config(text, "c", s, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with("c:2: line too long"));
  CHECK(s.bell == false);  // the line after it is still line 3 and read
}

TEST_CASE("config: the command line overrides the file key by key") {
  Settings file, cli;
  std::vector<std::string> errors;
  REQUIRE(parse_config("host = far.example\nport = 2600\nnick = filenick\ncolor = off\nlog = on\n", "c", file,
                       errors));
  cli.nick = "clinick";
  cli.color = true;
  const Settings s = overlay(file, cli);
  CHECK(s.nick == "clinick");
  CHECK(s.color == true);
  CHECK(s.host == "far.example");  // not said on the command line: the file's
  CHECK(s.port == "2600");
  CHECK(s.log == true);
  CHECK_FALSE(s.bell.has_value());  // said nowhere: the built-in default applies
}

TEST_CASE("config: files: missing is fine at the default path, an error when named; XDG_CONFIG_HOME") {
  TempDir d;
  Settings s;
  std::vector<std::string> errors;
  CHECK(load_config((d.path / "none").string(), true, s, errors));
  CHECK_FALSE(load_config((d.path / "none").string(), false, s, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("cannot read") != std::string::npos);
  const std::filesystem::path file = d.path / "config";
  std::ofstream(file) << "nick = fromfile\nbogus = 1\n";
  errors.clear();
  CHECK_FALSE(load_config(file.string(), true, s, errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == file.string() + ":2: unknown key 'bogus'");

  const char* old = std::getenv("XDG_CONFIG_HOME");
  const std::string saved = old != nullptr ? old : "";
  setenv("XDG_CONFIG_HOME", d.path.c_str(), 1);
  CHECK(config_path() == d.path.string() + "/sockchat/config");
  if (old != nullptr) setenv("XDG_CONFIG_HOME", saved.c_str(), 1);
  else unsetenv("XDG_CONFIG_HOME");
}

TEST_CASE("autolog: one file per local day, lines sanitized, 0700 directories and 0600 files") {
  TempDir d;
  const std::filesystem::path dir = d.path / "state" / "sockchat" / "logs";
  Scrollback log;
  log.add(LineKind::Incoming, "message from 9 (bob): hi \x1b[31mred\x1b[0m\x07", local_us(2026, 11, 30, 23, 59));
  log.add(LineKind::Info, "nick alice", local_us(2026, 12, 1, 0, 1));
  {
    Autolog a(dir.string());
    a.flush(log);
    CHECK(a.why_failed().empty());
  }
  CHECK(autolog_file_name(local_us(2026, 11, 30, 23, 59)) == "2026-11-30.log");
  const std::string first = read_all(dir / "2026-11-30.log");
  CHECK(first == "23:59:00 message from 9 (bob): hi ^[[31mred^[[0m^G\n");
  CHECK(first.find('\x1b') == std::string::npos);
  CHECK(read_all(dir / "2026-12-01.log") == "00:01:00 nick alice\n");
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(d.path / "state" / "sockchat") == 0700);
  CHECK(mode_of(dir / "2026-11-30.log") == 0600);
}

TEST_CASE("autolog: a sending line is written with its outcome, and nothing twice") {
  TempDir d;
  Scrollback log;
  const std::int64_t at = local_us(2026, 11, 30, 12, 0);
  Autolog a(d.path.string());
  const std::uint64_t seq = log.end_seq();
  log.add(LineKind::Pending, "sending to 9 (bob): hello (pending)", at);
  log.add(LineKind::Event, "joined 4 dave 127.0.0.1:5000", at);
  a.flush(log);
  CHECK_FALSE(std::filesystem::exists(d.path / "2026-11-30.log"));  // held back behind the pending line
  log.mark_send(seq, true, "");
  a.flush(log);
  a.flush(log);
  CHECK(read_all(d.path / "2026-11-30.log") ==
        "12:00:00 sent to 9 (bob): hello (delivered)\n12:00:00 joined 4 dave 127.0.0.1:5000\n");
}

TEST_CASE("autolog: off writes nothing; a file that cannot be made stops it with the reason") {
  Scrollback log;
  log.add(LineKind::Info, "x");
  Autolog off{std::string()};
  off.flush(log);
  CHECK_FALSE(off.enabled());
  CHECK(off.why_failed().empty());
  TempDir d;
  std::ofstream(d.path / "file") << "not a directory";
  Autolog bad((d.path / "file" / "logs").string());
  bad.flush(log);
  CHECK_FALSE(bad.enabled());
  CHECK(bad.why_failed().find("cannot make") != std::string::npos);
}
