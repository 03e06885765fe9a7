#include "commands.hpp"

#include <charconv>

namespace sc::tui {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-delimited word; `rest` keeps everything
// after the single separator run, so message text keeps its inner spacing.
std::string_view next_word(std::string_view& rest) {
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  std::size_t n = 0;
  while (n < rest.size() && !is_space(rest[n])) ++n;
  std::string_view word = rest.substr(0, n);
  rest.remove_prefix(n);
  if (!rest.empty()) rest.remove_prefix(1);
  return word;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

ParseResult fail(std::string why) {
  ParseResult r;
  r.error = std::move(why);
  return r;
}

ParseResult done(Command c) {
  ParseResult r;
  r.ok = true;
  r.command = std::move(c);
  return r;
}

ParseResult parse_connect(std::string_view args) {
  Command c;
  c.kind = CommandKind::Connect;
  std::string_view host = next_word(args);
  // A flag, not a bare word: "tls" could be a host name.
  if (host == "--tls" || host == "--no-tls") {
    c.tls = host == "--tls" ? Command::Tls::On : Command::Tls::Off;
    host = next_word(args);
  }
  std::string_view port = next_word(args);
  if (!trim(args).empty()) return fail("usage: /connect [--tls|--no-tls] [HOST [PORT]]");
  if (!host.empty()) c.host = host;
  if (!port.empty()) {
    if (!parse_port(port)) return fail("port must be a number from 1 to 65535");
    c.port = port;
    c.port_given = true;
  }
  return done(c);
}

// The password is never an argument: it is asked for (hidden) or read
// from --password-file.
ParseResult parse_auth(std::string_view args) {
  Command c;
  c.kind = CommandKind::Auth;
  c.text = next_word(args);
  if (c.text.empty() || !trim(args).empty()) {
    return fail("usage: /auth NAME (the password is asked for, never typed on the command)");
  }
  return done(c);
}

ParseResult parse_time(std::string_view args) {
  Command c;
  c.kind = CommandKind::Time;
  std::string_view n = next_word(args);
  if (!trim(args).empty()) return fail("usage: /time [N]");
  if (!n.empty() && (!parse_number(n, c.count) || c.count < 1 || c.count > kMaxTimeBatch)) {
    return fail("N must be a number from 1 to 10000");
  }
  return done(c);
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A client named by its id (all digits) or by its nick; the App resolves
// nicks through the client list.
bool parse_target(std::string_view word, Command& c, std::string& why) {
  if (!all_digits(word)) {
    c.who = word;
    return true;
  }
  if (parse_client_id(word, c.target)) return true;
  why = "ID must be a client id (a number from 1 in the clients list)";
  return false;
}

ParseResult parse_send(std::string_view name, std::string_view args) {
  Command c;
  c.kind = CommandKind::Send;
  const std::string usage = "usage: /" + std::string(name) + " NICK|ID TEXT";
  std::string_view to = next_word(args);
  if (to.empty()) return fail(usage);
  if (std::string why; !parse_target(to, c, why)) return fail(why);
  if (trim(args).empty()) return fail(usage + " (the text is missing)");
  // Keep the text as typed apart from trailing line-end characters.
  while (!args.empty() && (args.back() == '\r' || args.back() == '\n')) args.remove_suffix(1);
  c.text = args;
  return done(c);
}

ParseResult parse_whois(std::string_view args) {
  Command c;
  c.kind = CommandKind::Whois;
  std::string_view who = next_word(args);
  if (who.empty() || !trim(args).empty()) return fail("usage: /whois NICK|ID");
  if (std::string why; !parse_target(who, c, why)) return fail(why);
  return done(c);
}

// A command with one word: /query NICK, /nick NAME.
ParseResult parse_one_word(CommandKind kind, const char* usage, std::string_view args) {
  Command c;
  c.kind = kind;
  std::string_view word = next_word(args);
  if (word.empty() || !trim(args).empty()) return fail(usage);
  c.text = word;
  return done(c);
}

ParseResult parse_no_args(CommandKind kind, std::string_view name, std::string_view args) {
  if (!trim(args).empty()) return fail("usage: /" + std::string(name) + " (no arguments)");
  Command c;
  c.kind = kind;
  return done(c);
}

}  // namespace

bool parse_client_id(std::string_view s, std::uint32_t& out) {
  return parse_number(trim(s), out) && out != 0;
}

bool parse_port(std::string_view s) {
  unsigned port = 0;
  return parse_number(s, port) && port >= 1 && port <= 65535;
}

ParseResult parse_command(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (trim(line).empty()) return done(Command{});
  if (line.front() != '/' || line.starts_with("//")) {
    Command c;
    c.kind = CommandKind::Say;
    c.text = line.starts_with("//") ? line.substr(1) : line;
    return done(c);
  }
  std::string_view rest = line.substr(1);
  const std::string_view name = next_word(rest);
  if (name == "connect") return parse_connect(rest);
  if (name == "auth") return parse_auth(rest);
  if (name == "disconnect") return parse_no_args(CommandKind::Disconnect, name, rest);
  if (name == "time") return parse_time(rest);
  if (name == "name") return parse_no_args(CommandKind::Name, name, rest);
  if (name == "list") return parse_no_args(CommandKind::List, name, rest);
  if (name == "send" || name == "msg") return parse_send(name, rest);
  if (name == "whois") return parse_whois(rest);
  if (name == "nick") return parse_one_word(CommandKind::Nick, "usage: /nick NAME (one word)", rest);
  if (name == "query") return parse_one_word(CommandKind::Query, "usage: /query NICK", rest);
  if (name == "close") return parse_no_args(CommandKind::Close, name, rest);
  if (name == "clear") return parse_no_args(CommandKind::Clear, name, rest);
  if (name == "help") return parse_no_args(CommandKind::Help, name, rest);
  if (name == "quit" || name == "exit") return parse_no_args(CommandKind::Quit, name, rest);
  return fail("unknown command /" + std::string(name) + "; /help lists the commands");
}

std::vector<std::string> command_names() {
  return {"connect", "auth", "disconnect", "time", "name",  "list", "send", "msg",
          "whois",   "query", "close",      "clear", "nick", "help", "quit", "exit"};
}

const char* command_help() {
  return "/connect [--tls|--no-tls] [HOST [PORT]]\n"
         "                        connect (default 127.0.0.1 2555, with TLS 2556);\n"
         "                        without a flag, TLS when sockchat was started with --tls\n"
         "/auth NAME              sign in to account NAME (the password is asked for)\n"
         "/disconnect             say goodbye and close the connection\n"
         "/time [N]               the server's time; N (up to 10000) pipelined requests\n"
         "/name                   the server's name\n"
         "/list                   the connected clients\n"
         "/msg NICK|ID TEXT       send TEXT to a client, by nick or id (also /send)\n"
         "/whois NICK|ID          who that is: id, address, port, connected since\n"
         "/query NICK             a window for the conversation with NICK (Alt-1..9 switch)\n"
         "/close                  close this conversation window\n"
         "/clear                  clear this window\n"
         "/nick NAME              change your nick\n"
         "/help                   this list\n"
         "/quit                   leave\n"
         "TEXT                    send to this window's nick, or in 1:all to the client\n"
         "                        selected in the clients pane\n";
}

}  // namespace sc::tui
