#include "config.hpp"

#include <ini.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "commands.hpp"
#include "common/codec.hpp"
#include "known_servers.hpp"
#include "xdg.hpp"

namespace sc::tui {

namespace {

// inih calls back without a line number (Debian builds it without
// INI_HANDLER_LINENO), so the reader hands it one line at a time and
// counts: when the handler runs, `line` is the line it is about.
struct ParseState {
  std::string_view rest;
  int line = 0;
  Settings* out = nullptr;
  std::vector<std::pair<int, std::string>> errors;  // line, what
  std::vector<std::string> seen;                    // keys given so far

  void error(std::string what) { errors.emplace_back(line, std::move(what)); }
};

char* read_line(char* str, int num, void* stream) {
  auto& st = *static_cast<ParseState*>(stream);
  if (st.rest.empty()) return nullptr;
  const std::size_t nl = st.rest.find('\n');
  const std::size_t len = nl == std::string_view::npos ? st.rest.size() : nl + 1;
  const std::string_view line = st.rest.substr(0, len);
  st.rest.remove_prefix(len);
  ++st.line;
  // inih needs room for "\r\n\0"; a longer line would be split into two.
  const std::size_t room = static_cast<std::size_t>(std::max(num - 3, 0));
  if (line.size() > room + 1 || line.find('\0') != std::string_view::npos) {
    st.error(line.find('\0') != std::string_view::npos ? "a NUL byte in the line"
                                                      : "line too long (at most " + std::to_string(room) + " bytes)");
    std::strcpy(str, "\n");
    return str;
  }
  line.copy(str, line.size());
  str[line.size()] = '\0';
  return str;
}

std::optional<bool> parse_bool(std::string_view v) {
  for (const char* yes : {"on", "yes", "true", "1"}) {
    if (v == yes) return true;
  }
  for (const char* no : {"off", "no", "false", "0"}) {
    if (v == no) return false;
  }
  return std::nullopt;
}

// "~/x" is $HOME/x: a config file is not run through a shell.
std::string expand_home(std::string_view v) {
  const char* home = std::getenv("HOME");
  if (v.starts_with("~/") && home != nullptr && home[0] != '\0') return std::string(home) + std::string(v.substr(1));
  return std::string(v);
}

void set_bool(ParseState& st, std::optional<bool>& field, std::string_view key, std::string_view v) {
  field = parse_bool(v);
  if (!field) st.error(std::string(key) + " is on or off, not '" + std::string(v) + "'");
}

void set_name(ParseState& st, std::optional<std::string>& field, std::string_view key, std::string_view v) {
  std::string_view why;
  if (check_nick(v, &why) != Status::Ok) {
    st.error(std::string(key) + " '" + std::string(v) + "' cannot be used: " + std::string(why));
  } else {
    field = std::string(v);
  }
}

// One key: checked like the command-line option it stands for.
void set_key(ParseState& st, std::string_view key, std::string_view v) {
  Settings& s = *st.out;
  if (key == "host") {
    if (v.find_first_of(" \t") != std::string_view::npos) st.error("host '" + std::string(v) + "' has a space in it");
    else s.host = std::string(v);
  } else if (key == "port") {
    if (!parse_port(v)) st.error("port must be a number from 1 to 65535, not '" + std::string(v) + "'");
    else s.port = std::string(v);
  } else if (key == "tls") {
    set_bool(st, s.tls, key, v);
  } else if (key == "tls-ca") {
    s.tls_ca = expand_home(v);
  } else if (key == "tls-fingerprint") {
    Fingerprint fp{};
    if (!parse_fingerprint(v, fp)) st.error("tls-fingerprint takes SHA256:BASE64 or 64 hex digits");
    else s.tls_fingerprint = std::string(v);
  } else if (key == "nick") {
    set_name(st, s.nick, key, v);
  } else if (key == "user") {
    set_name(st, s.user, key, v);
  } else if (key == "password-file") {
    s.password_file = expand_home(v);
  } else if (key == "color" || key == "colour") {
    set_bool(st, s.color, key, v);
  } else if (key == "bell") {
    set_bool(st, s.bell, key, v);
  } else if (key == "log") {
    set_bool(st, s.log, key, v);
  } else if (key == "reconnect") {
    set_bool(st, s.reconnect, key, v);
  } else if (key == "password") {
    st.error("there is no password key: name a file with password-file (mode 0600)");
  } else {
    st.error("unknown key '" + std::string(key) + "'");
  }
}

int on_key(void* user, const char* section, const char* name, const char* value) {
  auto& st = *static_cast<ParseState*>(user);
  const std::string_view key = name, v = value;
  if (section[0] != '\0') {
    st.error("[" + std::string(section) + "]: sockchat's config has no sections; put " + std::string(key) +
             " above any [section] line");
    return 1;
  }
  // The colour key has two spellings; either counts as the same key.
  const std::string canonical = key == "colour" ? "color" : std::string(key);
  if (std::find(st.seen.begin(), st.seen.end(), canonical) != st.seen.end()) {
    st.error(std::string(key) + " is set a second time (or an indented line continues it)");
    return 1;
  }
  st.seen.push_back(canonical);
  if (v.empty()) {
    st.error(std::string(key) + " needs a value");
    return 1;
  }
  set_key(st, key, v);
  return 1;  // inih's own error count would only hide the line numbers of ours
}

}  // namespace

Settings overlay(Settings base, const Settings& over) {
  using Text = std::optional<std::string> Settings::*;
  using Flag = std::optional<bool> Settings::*;
  for (Text m : {&Settings::host, &Settings::port, &Settings::nick, &Settings::user, &Settings::password_file,
                 &Settings::tls_ca, &Settings::tls_fingerprint}) {
    if (over.*m) base.*m = over.*m;
  }
  for (Flag m : {&Settings::tls, &Settings::color, &Settings::bell, &Settings::log, &Settings::reconnect}) {
    if (over.*m) base.*m = over.*m;
  }
  return base;
}

bool parse_config(std::string_view text, const std::string& name, Settings& out, std::vector<std::string>& errors) {
  ParseState st;
  st.rest = text;
  st.out = &out;
  const int first_bad = ini_parse_stream(read_line, &st, on_key, &st);
  // inih names only the first line it could not parse (no '=', no ']'):
  if (first_bad > 0) {
    st.errors.emplace_back(first_bad, "expected 'key = value' (or a comment starting with # or ;)");
  } else if (first_bad < 0) {
    st.errors.emplace_back(0, "could not be parsed (out of memory)");
  }
  std::stable_sort(st.errors.begin(), st.errors.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [line, what] : st.errors) errors.push_back(name + ":" + std::to_string(line) + ": " + what);
  return st.errors.empty();
}

bool load_config(const std::string& path, bool missing_ok, Settings& out, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT && missing_ok) return true;
    errors.push_back(path + ": cannot read: " + std::strerror(errno));
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path, out, errors);
}

std::string config_path() {
  const std::string dir = xdg_dir("XDG_CONFIG_HOME", ".config");
  return dir.empty() ? dir : dir + "/config";
}

}  // namespace sc::tui
