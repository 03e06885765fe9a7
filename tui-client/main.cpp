// sockchat: the terminal client for sockchatd.  Parses the command line,
// picks the full-screen or the --plain front end, and makes sure the
// terminal is restored on every way out.
#include <getopt.h>
#include <langinfo.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "autolog.hpp"
#include "commands.hpp"
#include "config.hpp"
#include "common/version.hpp"
#include "connection.hpp"
#include "known_servers.hpp"
#include "loops.hpp"
#include "password.hpp"
#include "screen.hpp"
#include "signals.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: sockchat [OPTION]... [HOST [PORT]]\n"
    "Terminal chat client for sockchatd.  With HOST (or host in the config\n"
    "file) it connects at start (PORT defaults to 2555, with --tls 2556);\n"
    "otherwise use Connect (F2) or /connect.  A lost connection is retried\n"
    "after 1, 2, 4 ... up to 60 s; Esc or /disconnect cancels.\n"
    "\n"
    "  -n, --nick NAME   nick to ask for after connecting (default: $USER)\n"
    "      --tls         connect with TLS; the certificate is verified against\n"
    "                    the system's CAs and the host name; a server no CA\n"
    "                    vouches for is trusted on first use (asked once, then\n"
    "                    remembered in $XDG_DATA_HOME/sockchat/known_servers)\n"
    "      --tls-ca FILE trust the CA certificate(s) in FILE instead of the\n"
    "                    system's (implies --tls; nothing is asked)\n"
    "      --tls-fingerprint SHA256\n"
    "                    accept only the server key with this fingerprint\n"
    "                    (SHA256:BASE64 as sockchat shows it, or hex; implies\n"
    "                    --tls; nothing is asked)\n"
    "      --user NAME   sign in to account NAME after connecting; the password\n"
    "                    is asked for with echo off\n"
    "      --password-file FILE\n"
    "                    read the password from FILE's first line instead\n"
    "                    (there is no option taking the password itself)\n"
    "      --no-tls      connect without TLS (over the config file's tls = on)\n"
    "      --no-color    no colours (also when NO_COLOR is set)\n"
    "      --color       colours (over NO_COLOR and the config file)\n"
    "      --no-bell     no bell on incoming messages\n"
    "      --bell        the bell (over the config file)\n"
    "      --log         append the messages pane to one file a day under\n"
    "                    $XDG_STATE_HOME/sockchat/logs/ (~/.local/state/...)\n"
    "      --no-log      no message log (over the config file)\n"
    "      --no-reconnect\n"
    "                    stay disconnected after a lost connection\n"
    "      --config FILE read FILE instead of $XDG_CONFIG_HOME/sockchat/config\n"
    "                    (~/.config/sockchat/config); options override it\n"
    "      --no-config   read no config file\n"
    "      --plain       no full-screen UI: read commands from stdin, print one\n"
    "                    event per line on stdout (automatic when stdin or\n"
    "                    stdout is not a terminal)\n"
    "  -h, --help        show this help and exit\n"
    "  -V, --version     show the version and exit\n"
    "\n"
    "Commands (input line and --plain):\n";

constexpr const char* kUsageTail =
    "\n"
    "Keys: Tab completes nicks and /commands (again: the next match); F1 help,\n"
    "F2 connect, F3 disconnect, F4 time, F5 server name, F6 list, F7 send,\n"
    "F10 quit (asks once while messages wait for an answer), or Alt and the\n"
    "menu letter; F8 or Alt-W visits the clients pane, F9 or Alt-M the menu;\n"
    "PgUp/PgDn scroll (in the clients pane they page through the clients);\n"
    "Up/Down recall earlier input; Esc cancels a prompt or a connect;\n"
    "Alt-1..9 or Ctrl-N/Ctrl-P switch windows (/query NICK opens one);\n"
    "Alt-U shows or hides the clients pane.\n"
    "\n"
    "--plain prints lines such as:\n"
    "  connected to 127.0.0.1:2555 as client 3 (server myhost)\n"
    "  time 2026-11-26 12:00:01.123 CST (UTC+08:00)\n"
    "  name myhost\n"
    "  clients 2 / client 1 alice 127.0.0.1:50000 (you)\n"
    "  delivered 5 to 2 / not delivered to 2: no such client (...)\n"
    "  message from 1 (alice) 127.0.0.1:50000: hi\n"
    "  100/100 responses in 12.3 ms (rtt min/median/max 0.050/0.100/0.500 ms)\n"
    "At end of input it waits for outstanding answers, says goodbye, exits 0;\n"
    "exit status 1 when HOST was given and the connection failed, 2 on bad usage.\n";

constexpr int kConnectTimeoutMs = 5000;  // per address

struct Args {
  sc::tui::Options options;
  sc::tui::StartTarget target;
  sc::tui::TlsOptions tls;
  std::string password_file;
  bool log = false;  // --log or log = on
};

// Connects with TLS or without; the TLS context is made at the first TLS
// connect (and kept), so a plaintext-only run never loads the CA store.
sc::tui::Connector make_connector(sc::tui::TlsOptions tls_options) {
  auto client = std::make_shared<std::shared_ptr<const sc::tui::TlsClient>>();
  return [client, tls_options](const std::string& host, const std::string& port, bool tls,
                               std::string& err) -> std::unique_ptr<sc::tui::Transport> {
    if (tls && !*client) *client = sc::tui::TlsClient::make(tls_options, err);
    if (tls && !*client) return nullptr;
    return sc::tui::Connection::start(host, port, kConnectTimeoutMs, tls ? *client : nullptr, err);
  };
}

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "sockchat: %s\nTry 'sockchat --help'.\n", what.c_str());
  std::exit(2);
}

// getopt_long() takes "--password" as an abbreviation of --password-file:
// refuse it by name, before a password can end up in an error message.
void refuse_password_option(int argc, char** argv) {
  for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    const std::string_view a = argv[i];
    if (a == "--password" || a.starts_with("--password=") || a == "--passwd" || a == "--pass") {
      usage_error("there is no --password: a password on the command line is visible to every user's ps; "
                  "use --password-file FILE or let sockchat ask");
    }
  }
}

// The command line as said, before the config file is merged under it.
struct CommandLine {
  sc::tui::Settings settings;
  bool plain = false;
  bool no_config = false;
  std::string config;  // --config FILE
};

enum {
  kNoColor = 256, kNoBell, kPlain, kColor, kBell, kTls, kNoTls, kTlsCa, kTlsFingerprint, kUser, kPasswordFile,
  kConfig, kNoConfig, kLog, kNoLog, kNoReconnect,
};

// The options that have a config key: they only set what was said, so
// the file can fill in the rest.
void set_setting(sc::tui::Settings& s, int c, const char* arg) {
  switch (c) {
    case 'n': s.nick = arg; break;
    case kNoColor: s.color = false; break;
    case kColor: s.color = true; break;
    case kNoBell: s.bell = false; break;
    case kBell: s.bell = true; break;
    case kTls: s.tls = true; break;
    case kNoTls: s.tls = false; break;
    case kTlsCa: s.tls_ca = arg; break;
    case kTlsFingerprint: s.tls_fingerprint = arg; break;
    case kUser: s.user = arg; break;
    case kPasswordFile: s.password_file = arg; break;
    case kLog: s.log = true; break;
    case kNoLog: s.log = false; break;
    case kNoReconnect: s.reconnect = false; break;
    default: break;
  }
}

CommandLine read_command_line(int argc, char** argv) {
  static const option longopts[] = {
      {"nick", required_argument, nullptr, 'n'},     {"no-color", no_argument, nullptr, kNoColor},
      {"color", no_argument, nullptr, kColor},       {"no-bell", no_argument, nullptr, kNoBell},
      {"bell", no_argument, nullptr, kBell},         {"plain", no_argument, nullptr, kPlain},
      {"tls", no_argument, nullptr, kTls},           {"no-tls", no_argument, nullptr, kNoTls},
      {"tls-ca", required_argument, nullptr, kTlsCa},
      {"tls-fingerprint", required_argument, nullptr, kTlsFingerprint},
      {"user", required_argument, nullptr, kUser},   {"password-file", required_argument, nullptr, kPasswordFile},
      {"config", required_argument, nullptr, kConfig}, {"no-config", no_argument, nullptr, kNoConfig},
      {"log", no_argument, nullptr, kLog},           {"no-log", no_argument, nullptr, kNoLog},
      {"no-reconnect", no_argument, nullptr, kNoReconnect},
      {"help", no_argument, nullptr, 'h'},           {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0}};
  refuse_password_option(argc, argv);
  CommandLine cl;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":n:hV", longopts, nullptr)) != -1) {
    switch (c) {
      case kPlain: cl.plain = true; break;
      case kConfig: cl.config = optarg; break;
      case kNoConfig: cl.no_config = true; break;
      case 'h':
        std::fputs(kUsage, stdout);
        std::fputs(sc::tui::command_help(), stdout);
        std::fputs(kUsageTail, stdout);
        std::exit(0);
      case 'V': std::puts("sockchat " SOCKCHAT_VERSION); std::exit(0);
      case ':': usage_error(std::string("option '") + argv[optind - 1] + "' needs an argument");
      case '?':
        usage_error(optopt != 0 ? std::string("unknown option '-") + static_cast<char>(optopt) + "'"
                                : std::string("unknown option '") + argv[optind - 1] + "'");
      default: set_setting(cl.settings, c, optarg); break;
    }
  }
  if (argc - optind > 2) usage_error("too many arguments");
  if (optind < argc) {
    cl.settings.host = argv[optind];
    // HOST on the command line takes the file's port with it.
    if (optind + 1 < argc) cl.settings.port = argv[optind + 1];
    else cl.settings.port = std::string();  // empty: the default port, not the file's
  }
  return cl;
}

// The config file under the command line.  Errors in the file stop the
// client before the screen is taken, each with its file and line.
sc::tui::Settings merge_config(const CommandLine& cl) {
  if (cl.no_config) return cl.settings;
  const bool named = !cl.config.empty();
  const std::string path = named ? cl.config : sc::tui::config_path();
  if (path.empty()) return cl.settings;
  sc::tui::Settings file;
  std::vector<std::string> errors;
  if (!sc::tui::load_config(path, !named, file, errors)) {
    for (const std::string& e : errors) std::fprintf(stderr, "sockchat: %s\n", e.c_str());
    std::fputs("sockchat: fix the config file, or start with --no-config\n", stderr);
    std::exit(2);
  }
  return sc::tui::overlay(file, cl.settings);
}

void apply_security(Args& a, const sc::tui::Settings& s) {
  a.options.tls = s.tls.value_or(false);
  if (s.tls_ca) {
    a.tls.ca_file = *s.tls_ca;
    a.options.tls = a.options.tls || !s.tls;  // implies --tls unless tls = off was said
  }
  if (s.tls_fingerprint) {
    sc::tui::Fingerprint fp{};
    if (!sc::tui::parse_fingerprint(*s.tls_fingerprint, fp)) {
      usage_error("--tls-fingerprint takes SHA256:BASE64 (as sockchat shows it) or 64 hex digits");
    }
    a.tls.pin = fp;
    a.options.tls = a.options.tls || !s.tls;
  }
  a.options.user = s.user.value_or("");
  a.password_file = s.password_file.value_or("");
}

// --password-file is read at each sign-in, so the password is in memory
// only while it is sent; --plain without it asks on the terminal.  The
// full-screen UI without it asks in its own hidden input line, again
// after each reconnect: a typed password is not kept.
void set_password_source(Args& a) {
  if (!a.password_file.empty()) {
    if (const std::string w = sc::tui::password_file_warning(a.password_file); !w.empty()) {
      std::fprintf(stderr, "sockchat: %s\n", w.c_str());
    }
    a.options.password_source = [file = a.password_file](const std::string&, std::string& pw, std::string& why) {
      return sc::tui::read_password_file(file, pw, why);
    };
  } else if (a.options.plain) {
    a.options.password_source = sc::tui::ask_password_on_tty;
  }
}

Args parse_args(int argc, char** argv) {
  const CommandLine cl = read_command_line(argc, argv);
  const sc::tui::Settings s = merge_config(cl);
  Args a;
  const char* user = std::getenv("USER");
  a.options.nick = s.nick.value_or(user != nullptr ? user : "");
  a.options.plain = cl.plain || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO);
  a.options.bell = s.bell.value_or(true);
  // NO_COLOR unless the file or the command line asks for colour.
  const char* no_color_env = std::getenv("NO_COLOR");
  a.options.color = s.color.value_or(no_color_env == nullptr || *no_color_env == '\0');
  a.options.reconnect = s.reconnect.value_or(true);
  a.log = s.log.value_or(false);
  apply_security(a, s);
  if (s.host) {
    a.target.given = true;
    a.target.host = *s.host;
    const std::string port = s.port.value_or("");
    a.target.port = !port.empty()        ? port
                    : a.options.tls      ? sc::tui::kDefaultTlsPortText
                                         : sc::tui::kDefaultPortText;
    if (!sc::tui::parse_port(a.target.port)) usage_error("PORT must be a number from 1 to 65535");
  }
  a.tls.interactive = !a.options.plain;
  a.tls.known_servers = sc::tui::known_servers_path();
  set_password_source(a);
  return a;
}

// curses and wcwidth() need a UTF-8 locale; fall back to C.UTF-8 when the
// environment names none (a bare container, a cron job).
void set_utf8_locale() {
  std::setlocale(LC_ALL, "");
  const char* cs = nl_langinfo(CODESET);
  if (cs == nullptr || std::strcmp(cs, "UTF-8") != 0) std::setlocale(LC_CTYPE, "C.UTF-8");
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  set_utf8_locale();
  std::set_terminate([] {
    sc::tui::Screen::restore();
    std::fputs("sockchat: fatal error\n", stderr);
    std::abort();
  });
  const int signal_fd = sc::tui::install_signal_pipe();
  if (signal_fd < 0) {
    std::perror("sockchat: pipe");
    return 1;
  }
  try {
    sc::tui::App app(args.options, make_connector(args.tls));
    sc::tui::Autolog autolog(args.log ? sc::tui::autolog_dir() : std::string());
    const int status = args.options.plain ? sc::tui::run_plain(app, args.target, signal_fd, autolog)
                                          : sc::tui::run_tui(app, args.target, signal_fd, autolog);
    autolog.flush(app.state().log, true);
    // Said after the screen is gone: nothing may write to it while curses runs.
    if (!autolog.why_failed().empty()) {
      std::fprintf(stderr, "sockchat: the message log stopped: %s\n", autolog.why_failed().c_str());
    }
    return status;
  } catch (const std::exception& e) {
    sc::tui::Screen::restore();  // before anything is printed
    std::fprintf(stderr, "sockchat: %s\n", e.what());
    return 1;
  }
}
