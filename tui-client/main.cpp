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

#include "commands.hpp"
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
    "Terminal chat client for sockchatd.  With HOST it connects at start\n"
    "(PORT defaults to 2555, with --tls 2556); otherwise use Connect (F2)\n"
    "or /connect.\n"
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
    "      --no-color    no colours (also when NO_COLOR is set)\n"
    "      --no-bell     no bell on incoming messages\n"
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

// The options of issue 13: TLS and sign-in.
void set_security_option(Args& a, int c, const char* arg) {
  enum { kTls = 260, kTlsCa, kTlsFingerprint, kUser, kPasswordFile };
  switch (c) {
    case kTls: a.options.tls = true; break;
    case kTlsCa: a.tls.ca_file = arg; a.options.tls = true; break;
    case kTlsFingerprint: {
      sc::tui::Fingerprint fp{};
      if (!sc::tui::parse_fingerprint(arg, fp)) {
        usage_error("--tls-fingerprint takes SHA256:BASE64 (as sockchat shows it) or 64 hex digits");
      }
      a.tls.pin = fp;
      a.options.tls = true;
      break;
    }
    case kUser: a.options.user = arg; break;
    case kPasswordFile: a.password_file = arg; break;
    default: break;
  }
}

// --password-file is read at each sign-in, so the password is in memory
// only while it is sent; --plain without it asks on the terminal.  The
// full-screen UI without it asks in its own hidden input line.
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
  enum { kNoColor = 256, kNoBell, kPlain, kTls = 260, kTlsCa, kTlsFingerprint, kUser, kPasswordFile };
  static const option longopts[] = {
      {"nick", required_argument, nullptr, 'n'}, {"no-color", no_argument, nullptr, kNoColor},
      {"no-bell", no_argument, nullptr, kNoBell}, {"plain", no_argument, nullptr, kPlain},
      {"tls", no_argument, nullptr, kTls},       {"tls-ca", required_argument, nullptr, kTlsCa},
      {"tls-fingerprint", required_argument, nullptr, kTlsFingerprint},
      {"user", required_argument, nullptr, kUser}, {"password-file", required_argument, nullptr, kPasswordFile},
      {"help", no_argument, nullptr, 'h'},       {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0}};
  refuse_password_option(argc, argv);
  Args a;
  if (const char* user = std::getenv("USER")) a.options.nick = user;
  bool no_color = false;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":n:hV", longopts, nullptr)) != -1) {
    switch (c) {
      case 'n': a.options.nick = optarg; break;
      case kNoColor: no_color = true; break;
      case kNoBell: a.options.bell = false; break;
      case kPlain: a.options.plain = true; break;
      case kTls:
      case kTlsCa:
      case kTlsFingerprint:
      case kUser:
      case kPasswordFile: set_security_option(a, c, optarg); break;
      case 'h':
        std::fputs(kUsage, stdout);
        std::fputs(sc::tui::command_help(), stdout);
        std::fputs(kUsageTail, stdout);
        std::exit(0);
      case 'V': std::puts("sockchat " SOCKCHAT_VERSION); std::exit(0);
      case ':': usage_error(std::string("option '") + argv[optind - 1] + "' needs an argument");
      default:
        usage_error(optopt != 0 ? std::string("unknown option '-") + static_cast<char>(optopt) + "'"
                                : std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (argc - optind > 2) usage_error("too many arguments");
  if (optind < argc) {
    a.target.given = true;
    a.target.host = argv[optind];
    a.target.port = optind + 1 < argc            ? argv[optind + 1]
                    : a.options.tls ? sc::tui::kDefaultTlsPortText
                                    : sc::tui::kDefaultPortText;
    if (!sc::tui::parse_port(a.target.port)) usage_error("PORT must be a number from 1 to 65535");
  }
  const char* no_color_env = std::getenv("NO_COLOR");
  a.options.color = !no_color && (no_color_env == nullptr || *no_color_env == '\0');
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) a.options.plain = true;
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
    return args.options.plain ? sc::tui::run_plain(app, args.target, signal_fd)
                              : sc::tui::run_tui(app, args.target, signal_fd);
  } catch (const std::exception& e) {
    sc::tui::Screen::restore();  // before anything is printed
    std::fprintf(stderr, "sockchat: %s\n", e.what());
    return 1;
  }
}
