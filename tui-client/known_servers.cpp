#include "known_servers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "xdg.hpp"

namespace sc::tui {

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  const char* p = c != '\0' ? std::strchr(kB64, c) : nullptr;
  return p != nullptr ? static_cast<int>(p - kB64) : -1;
}

// Unpadded base64 of exactly 32 bytes is 43 characters; padding is allowed.
bool decode_b64_32(std::string_view s, Fingerprint& out) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  if (s.size() != 43) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : s) {
    const int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n == out.size()) return false;
      out[n++] = static_cast<std::uint8_t>(acc >> bits);
    }
  }
  return n == out.size();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex_32(std::string_view s, Fingerprint& out) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':') continue;
    if (i + 1 >= s.size() || n == out.size()) return false;
    const int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[n++] = static_cast<std::uint8_t>(hi << 4 | lo);
    ++i;
  }
  return n == out.size();
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// One non-comment line: "SERVER FINGERPRINT", nothing else.
bool parse_line(std::string_view line, KnownServer& out) {
  const std::size_t sp = line.find_first_of(" \t");
  if (sp == std::string_view::npos || sp == 0) return false;
  const std::string_view fp = trim(line.substr(sp));
  if (fp.find_first_of(" \t") != std::string_view::npos) return false;
  if (!starts_with_nocase(fp, "sha256:") || !decode_b64_32(fp.substr(7), out.fingerprint)) return false;
  out.server.assign(line.substr(0, sp));
  return out.server.find(':') != std::string::npos;
}

}  // namespace

std::string format_fingerprint(const Fingerprint& fp) {
  std::string out = "SHA256:";
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : fp) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kB64[(acc << (6 - bits)) & 63];
  return out;
}

bool parse_fingerprint(std::string_view text, Fingerprint& out) {
  text = trim(text);
  if (starts_with_nocase(text, "sha256:")) {
    const std::string_view rest = text.substr(7);
    return decode_b64_32(rest, out) || decode_hex_32(rest, out);
  }
  if (starts_with_nocase(text, "sha256//")) return decode_b64_32(text.substr(8), out);
  return decode_hex_32(text, out);
}

std::string server_key(std::string_view host, std::string_view port) {
  std::string h(host);
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::string(port);
}

KnownServers parse_known_servers(std::string_view text) {
  KnownServers known;
  int number = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    if (line.empty() || line.front() == '#') continue;
    KnownServer e;
    e.line = number;
    if (parse_line(line, e)) {
      known.entries.push_back(std::move(e));
    } else {
      known.malformed.push_back(number);
    }
  }
  return known;
}

KnownMatch match_known_server(const KnownServers& known, const std::string& server, const Fingerprint& fp) {
  for (const KnownServer& e : known.entries) {
    if (e.server != server) continue;
    return KnownMatch{e.fingerprint == fp ? KnownMatch::What::Same : KnownMatch::What::Changed, e.line};
  }
  return KnownMatch{};
}

std::string known_server_line(const std::string& server, const Fingerprint& fp) {
  return server + " " + format_fingerprint(fp);
}

std::string known_servers_path() {
  const std::string dir = xdg_dir("XDG_DATA_HOME", ".local/share");
  return dir.empty() ? dir : dir + "/known_servers";
}

bool load_known_servers(const std::string& path, KnownServers& out, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) {
      out = KnownServers{};
      return true;
    }
    why = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out = parse_known_servers(text.str());
  return true;
}

namespace {

// Lines in the file so far, counting a last line without a newline.
int count_lines(const std::string& path, bool& ends_in_newline) {
  std::ifstream in(path, std::ios::binary);
  int lines = 0;
  char c = '\n';
  for (char ch; in.get(ch);) {
    if (ch == '\n') ++lines;
    c = ch;
  }
  ends_in_newline = c == '\n';
  return lines + (ends_in_newline ? 0 : 1);
}

}  // namespace

int append_known_server(const std::string& path, const std::string& server, const Fingerprint& fp,
                        std::string& why) {
  const std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0 && !make_private_dirs(path.substr(0, slash))) {
    why = "cannot make the directory of " + path + ": " + std::strerror(errno);
    return 0;
  }
  bool ends_in_newline = true;
  const int before = count_lines(path, ends_in_newline);
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    why = "cannot open " + path + ": " + std::strerror(errno);
    return 0;
  }
  const std::string line = (ends_in_newline ? "" : "\n") + known_server_line(server, fp) + "\n";
  const ssize_t n = write(fd, line.data(), line.size());
  const int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    why = "cannot write " + path + ": " + (n < 0 ? std::strerror(e) : "short write");
    return 0;
  }
  return before + 1;
}

}  // namespace sc::tui
