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
#include "loops.hpp"
#include "screen.hpp"
#include "signals.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: sockchat [OPTION]... [HOST [PORT]]\n"
    "Terminal chat client for sockchatd.  With HOST it connects at start\n"
    "(PORT defaults to 2555); otherwise use Connect (F2) or /connect.\n"
    "\n"
    "  -n, --nick NAME   nick to ask for after connecting (default: $USER)\n"
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
    "Up/Down recall earlier input; Esc cancels a prompt or a connect.\n"
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

std::unique_ptr<sc::tui::Transport> connect_tcp(const std::string& host, const std::string& port,
                                                std::string& err) {
  return sc::tui::Connection::start(host, port, kConnectTimeoutMs, err);
}

struct Args {
  sc::tui::Options options;
  sc::tui::StartTarget target;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "sockchat: %s\nTry 'sockchat --help'.\n", what.c_str());
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  enum { kNoColor = 256, kNoBell, kPlain };
  static const option longopts[] = {
      {"nick", required_argument, nullptr, 'n'}, {"no-color", no_argument, nullptr, kNoColor},
      {"no-bell", no_argument, nullptr, kNoBell}, {"plain", no_argument, nullptr, kPlain},
      {"help", no_argument, nullptr, 'h'},       {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0}};
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
    a.target.port = optind + 1 < argc ? argv[optind + 1] : sc::tui::kDefaultPortText;
    if (!sc::tui::parse_port(a.target.port)) usage_error("PORT must be a number from 1 to 65535");
  }
  const char* no_color_env = std::getenv("NO_COLOR");
  a.options.color = !no_color && (no_color_env == nullptr || *no_color_env == '\0');
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) a.options.plain = true;
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
    sc::tui::App app(args.options, connect_tcp);
    return args.options.plain ? sc::tui::run_plain(app, args.target, signal_fd)
                              : sc::tui::run_tui(app, args.target, signal_fd);
  } catch (const std::exception& e) {
    sc::tui::Screen::restore();  // before anything is printed
    std::fprintf(stderr, "sockchat: %s\n", e.what());
    return 1;
  }
}
