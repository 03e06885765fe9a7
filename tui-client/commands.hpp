// The input line's language: slash commands and plain text.  Pure.
//   /connect [--tls|--no-tls] [HOST [PORT]]  /auth NAME  /disconnect  /time [N]  /name  /list
//   /send NICK|ID TEXT (also /msg)  /whois NICK|ID  /query NICK  /close  /clear  /nick NAME  /help  /quit
// A line without a leading '/' is text for the selected client; "//" at the
// start sends the text with one leading '/'.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sc::tui {

inline constexpr const char* kDefaultHost = "127.0.0.1";
inline constexpr const char* kDefaultPortText = "2555";
inline constexpr const char* kDefaultTlsPortText = "2556";  // sockchatd --tls-port
inline constexpr int kMaxTimeBatch = 10000;

enum class CommandKind {
  Empty,  // a blank line: nothing to do
  Say,    // text for the selected client
  Connect,
  Auth,
  Disconnect,
  Time,
  Name,
  List,
  Send,
  Nick,
  Whois,
  Query,  // open or switch to the conversation window with a nick
  Close,  // close the active conversation window
  Clear,  // clear the active window
  Help,
  Quit,
};

struct Command {
  CommandKind kind = CommandKind::Empty;
  std::string host = kDefaultHost;    // Connect
  std::string port = kDefaultPortText;  // Connect
  bool port_given = false;            // Connect: else 2556 for TLS
  // Connect: --tls or --no-tls; Default: as on the command line.
  enum class Tls : std::uint8_t { Default, On, Off } tls = Tls::Default;
  int count = 1;                      // Time: requests to pipeline
  std::uint32_t target = 0;           // Send: the id, when given as one
  std::string who;                    // Send, Whois: the nick, when given as one
  std::string text;                   // Say, Send: the message; Nick, Query: the nick; Auth: the account
};

struct ParseResult {
  bool ok = false;
  Command command;
  std::string error;  // when !ok: what is wrong and how to write it right
};

ParseResult parse_command(std::string_view line);

// Parses a client id (1..2^32-1, decimal).  Used by prompts as well.
bool parse_client_id(std::string_view s, std::uint32_t& out);
// Parses a TCP port 1..65535, decimal.
bool parse_port(std::string_view s);

// The command names without the slash, for Tab completion.
std::vector<std::string> command_names();

// One line per command, for /help and --help.
const char* command_help();

}  // namespace sc::tui
