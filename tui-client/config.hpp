// The config file, $XDG_CONFIG_HOME/sockchat/config (else
// ~/.config/sockchat/config): "key = value" lines, parsed by libinih, so
// that plain `sockchat` connects where the user chats.  Keys (all
// optional, no [sections]):
//   host, port, tls, tls-ca, tls-fingerprint, nick, user, password-file,
//   color (or colour), bell, log, reconnect
// Booleans are on/off, yes/no, true/false or 1/0; a path may start with ~/.
// Every bad line, unknown key or key given twice is an error naming the
// file and the line ("config:3: unknown key 'nik'"); sockchat refuses to
// start with any, rather than run with half of what the user meant.
// The command line overrides the file key by key (overlay()).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sc::tui {

// What the config file or the command line said; unset: nothing.
struct Settings {
  std::optional<std::string> host, port, nick, user, password_file, tls_ca, tls_fingerprint;
  std::optional<bool> tls, color, bell, log, reconnect;
};

// `base` with every setting `over` has replacing base's.
Settings overlay(Settings base, const Settings& over);

// Parses a config file's text; `name` starts each error ("NAME:LINE:
// what").  False when errors were added (out holds the good lines).
bool parse_config(std::string_view text, const std::string& name, Settings& out, std::vector<std::string>& errors);

// Reads and parses the file.  A missing file is no error when missing_ok
// (the default path), and is one when the user named it (--config).
bool load_config(const std::string& path, bool missing_ok, Settings& out, std::vector<std::string>& errors);

// The default path; empty when neither XDG_CONFIG_HOME nor HOME is set.
std::string config_path();

}  // namespace sc::tui
