// The known_servers store and key fingerprints: parse, match, a changed key
// with its line number, malformed lines, and appending to a real file in a
// private temp dir.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tui-client/known_servers.hpp"

using namespace sc::tui;

namespace {

Fingerprint fp_of(std::uint8_t seed) {
  Fingerprint fp{};
  for (std::size_t i = 0; i < fp.size(); ++i) fp[i] = static_cast<std::uint8_t>(seed + i * 7);
  return fp;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "sockchat-known-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("fingerprint: SHA256:BASE64 round trip, and the other accepted spellings") {
  // SHA-256 of the empty string, whose base64 and hex are well known.
  const std::string b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
  const std::string hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  Fingerprint fp{};
  REQUIRE(parse_fingerprint("SHA256:" + b64, fp));
  CHECK(format_fingerprint(fp) == "SHA256:" + b64);
  Fingerprint other{};
  CHECK(parse_fingerprint(hex, other));
  CHECK(other == fp);
  CHECK(parse_fingerprint("sha256//" + b64 + "=", other));
  CHECK(other == fp);
  std::string colons;
  for (std::size_t i = 0; i < hex.size(); i += 2) colons += (i ? ":" : "") + hex.substr(i, 2);
  CHECK(parse_fingerprint("SHA256:" + colons, other));
  CHECK(other == fp);
  for (int seed = 0; seed < 50; ++seed) {
    Fingerprint a = fp_of(static_cast<std::uint8_t>(seed * 5)), b{};
    CHECK(parse_fingerprint(format_fingerprint(a), b));
    CHECK(a == b);
  }
}

TEST_CASE("fingerprint: wrong lengths and characters are refused") {
  Fingerprint fp{};
  CHECK_FALSE(parse_fingerprint("", fp));
  CHECK_FALSE(parse_fingerprint("SHA256:", fp));
  CHECK_FALSE(parse_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF", fp));    // 42 chars
  CHECK_FALSE(parse_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUU", fp));  // 44
  CHECK_FALSE(parse_fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!U", fp));
  CHECK_FALSE(parse_fingerprint("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8", fp));
  CHECK_FALSE(parse_fingerprint("x3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", fp));
  CHECK_FALSE(parse_fingerprint("MD5:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", fp));
}

TEST_CASE("known_servers: server keys are lower case, IPv6 in brackets") {
  CHECK(server_key("LocalHost", "2556") == "localhost:2556");
  CHECK(server_key("::1", "2556") == "[::1]:2556");
  CHECK(server_key("127.0.0.1", "1") == "127.0.0.1:1");
}

TEST_CASE("known_servers: parse, match, a changed key names its line, malformed lines are counted") {
  const Fingerprint a = fp_of(1), b = fp_of(2);
  const std::string text = "# remembered keys\n"
                           "\n" +
                           known_server_line("alpha:2556", a) + "\n" +
                           "garbage without a key\n" +
                           "beta:2556 SHA256:tooshort\n" +
                           known_server_line("beta:2556", b) + "   \r\n" +
                           "gamma:1 " + format_fingerprint(a) + " trailing\n" +
                           "nocolon " + format_fingerprint(a);  // no newline at the end
  const KnownServers k = parse_known_servers(text);
  REQUIRE(k.entries.size() == 2);
  CHECK(k.entries[0].server == "alpha:2556");
  CHECK(k.entries[0].line == 3);
  CHECK(k.entries[1].server == "beta:2556");
  CHECK(k.entries[1].line == 6);
  CHECK(k.malformed == std::vector<int>{4, 5, 7, 8});

  KnownMatch m = match_known_server(k, "alpha:2556", a);
  CHECK(m.what == KnownMatch::What::Same);
  CHECK(m.line == 3);
  m = match_known_server(k, "beta:2556", a);
  CHECK(m.what == KnownMatch::What::Changed);
  CHECK(m.line == 6);
  m = match_known_server(k, "alpha:2557", a);  // another port is another server
  CHECK(m.what == KnownMatch::What::Unknown);
  CHECK(match_known_server(KnownServers{}, "alpha:2556", a).what == KnownMatch::What::Unknown);
}

TEST_CASE("known_servers: the first line naming a server decides") {
  const Fingerprint a = fp_of(1), b = fp_of(2);
  const KnownServers k =
      parse_known_servers(known_server_line("s:1", a) + "\n" + known_server_line("s:1", b) + "\n");
  CHECK(match_known_server(k, "s:1", a).what == KnownMatch::What::Same);
  const KnownMatch m = match_known_server(k, "s:1", b);
  CHECK(m.what == KnownMatch::What::Changed);
  CHECK(m.line == 1);
}

TEST_CASE("known_servers: append makes the directory and a private file, and numbers the lines") {
  TempDir dir;
  const std::string path = dir.path + "/data/sockchat/known_servers";
  std::string why;
  CHECK(append_known_server(path, "alpha:2556", fp_of(1), why) == 1);
  CHECK(append_known_server(path, "beta:2556", fp_of(2), why) == 2);
  struct stat st{};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir.path + "/data/sockchat").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  KnownServers k;
  REQUIRE(load_known_servers(path, k, why));
  REQUIRE(k.entries.size() == 2);
  CHECK(match_known_server(k, "beta:2556", fp_of(2)).line == 2);

  // A last line without its newline gets one before the new line.
  std::ofstream(path, std::ios::app) << "# hand-edited";
  CHECK(append_known_server(path, "gamma:1", fp_of(3), why) == 4);
  CHECK(read_all(path).ends_with("\n# hand-edited\n" + known_server_line("gamma:1", fp_of(3)) + "\n"));
}

TEST_CASE("known_servers: a missing file is an empty store; an unreadable path says why") {
  TempDir dir;
  KnownServers k;
  std::string why;
  CHECK(load_known_servers(dir.path + "/none", k, why));
  CHECK(k.entries.empty());
  // A directory where the file should be cannot be appended to.
  std::filesystem::create_directories(dir.path + "/isdir");
  CHECK(append_known_server(dir.path + "/isdir", "a:1", fp_of(1), why) == 0);
  CHECK(why.find(dir.path + "/isdir") != std::string::npos);
}

TEST_CASE("known_servers: the default path follows XDG_DATA_HOME, else HOME") {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const char* old_home = std::getenv("HOME");
  const std::string keep_xdg = old_xdg ? old_xdg : "", keep_home = old_home ? old_home : "";
  setenv("XDG_DATA_HOME", "/x/data", 1);
  CHECK(known_servers_path() == "/x/data/sockchat/known_servers");
  setenv("XDG_DATA_HOME", "relative", 1);  // invalid per the XDG spec: ignored
  setenv("HOME", "/home/u", 1);
  CHECK(known_servers_path() == "/home/u/.local/share/sockchat/known_servers");
  unsetenv("XDG_DATA_HOME");
  unsetenv("HOME");
  CHECK(known_servers_path().empty());
  if (old_xdg) setenv("XDG_DATA_HOME", keep_xdg.c_str(), 1);
  if (old_home) setenv("HOME", keep_home.c_str(), 1);
}
