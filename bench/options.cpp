#include "bench/options.hpp"

#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace sc::bench {
namespace {

constexpr const char* kUsage =
    "usage: sockchat-bench [GLOBAL OPTIONS] MODE [MODE OPTIONS]\n"
    "\n"
    "modes:\n"
    "  time    -c CLIENTS -P DEPTH -d SECONDS     TIME requests, DEPTH in flight per client\n"
    "  send    -c PAIRS -P DEPTH -d SECONDS -s BYTES\n"
    "                                             SEND to a partner that ACKs every MESSAGE\n"
    "  connect -n N [-d SECONDS] [-l LISTS]       hold N idle connections, time LIST\n"
    "\n"
    "global options:\n"
    "  -h, --host HOST[:PORT][,HOST[:PORT]...]\n"
    "                         server address (default 127.0.0.1); several (comma-\n"
    "                         separated or repeated --host, [V6ADDR]:PORT for IPv6)\n"
    "                         are nodes of one cluster: connections go round-robin\n"
    "  -p, --port PORT        port of hosts given without one (default 2555, with\n"
    "                         --tls 2556)\n"
    "      --same-node        send with several hosts: a pair's sender and receiver\n"
    "                         on the same node (default: on different nodes)\n"
    "      --tls              speak TLS to the server's TLS port (no certificate check:\n"
    "                         point it at a server you run)\n"
    "  -t, --threads N        event-loop threads (default 1)\n"
    "      --server-pid PID   also report the server's CPU per request, RSS, threads, fds\n"
    "      --json             print the results as one JSON object\n"
    "      --help             this text\n"
    "\n"
    "Every response is checked; any lost, duplicated or wrong one makes the exit\n"
    "status 1.  Exit status 2: usage error; 3: could not connect or set up.\n";

bool parse_int(const char* what, const char* arg, long lo, long hi, long& out) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "sockchat-bench: %s must be an integer in %ld..%ld, not '%s'\n", what, lo,
                 hi, arg);
    return false;
  }
  out = v;
  return true;
}

bool parse_seconds(const char* arg, double& out) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(arg, &end);
  if (errno != 0 || end == arg || *end != '\0' || !(v >= 0 && v <= 86400)) {
    std::fprintf(stderr, "sockchat-bench: -d must be seconds in 0..86400, not '%s'\n", arg);
    return false;
  }
  out = v;
  return true;
}

bool parse_mode(const char* arg, Mode& m) {
  const std::string_view s(arg);
  if (s == "time") m = Mode::Time;
  else if (s == "send") m = Mode::Send;
  else if (s == "connect") m = Mode::Connect;
  else {
    std::fprintf(stderr, "sockchat-bench: unknown mode '%s' (time, send or connect)\n", arg);
    return false;
  }
  return true;
}

enum LongOnly { kServerPid = 1000, kJson, kHelp, kTls, kSameNode };

// "HOST", "HOST:PORT" or "[V6ADDR]:PORT"; an empty port means --port.
bool parse_endpoint(std::string_view item, Endpoint& e) {
  e = {};
  if (item.starts_with('[')) {
    const auto close = item.find(']');
    if (close == std::string_view::npos) return false;
    e.host = std::string(item.substr(1, close - 1));
    const std::string_view rest = item.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || rest.size() == 1)) return false;
    if (!rest.empty()) e.port = std::string(rest.substr(1));
  } else if (const auto colon = item.find(':'); colon != std::string_view::npos) {
    // A bare IPv6 address (more than one colon) has no port.
    if (item.find(':', colon + 1) != std::string_view::npos) e.host = std::string(item);
    else {
      e.host = std::string(item.substr(0, colon));
      e.port = std::string(item.substr(colon + 1));
      if (e.port.empty()) return false;
    }
  } else {
    e.host = std::string(item);
  }
  return !e.host.empty();
}

bool add_hosts(const char* arg, std::vector<Endpoint>& out) {
  std::string_view rest(arg);
  for (;;) {
    const auto comma = rest.find(',');
    Endpoint e;
    if (!parse_endpoint(rest.substr(0, comma), e)) {
      std::fprintf(stderr, "sockchat-bench: --host wants HOST, HOST:PORT or [V6ADDR]:PORT, not '%.*s'\n",
                   static_cast<int>(rest.substr(0, comma).size()), rest.data());
      return false;
    }
    out.push_back(std::move(e));
    if (comma == std::string_view::npos) return true;
    rest.remove_prefix(comma + 1);
  }
}

bool parse_global(int argc, char** argv, Options& o, int* exit_code) {
  static const option longs[] = {
      {"host", required_argument, nullptr, 'h'},    {"port", required_argument, nullptr, 'p'},
      {"threads", required_argument, nullptr, 't'}, {"server-pid", required_argument, nullptr, kServerPid},
      {"json", no_argument, nullptr, kJson},        {"help", no_argument, nullptr, kHelp},
      {"tls", no_argument, nullptr, kTls},          {"same-node", no_argument, nullptr, kSameNode},
      {nullptr, 0, nullptr, 0}};
  long v = 0;
  int c;
  // '+': stop at the mode word, which starts the mode's own options.
  while ((c = getopt_long(argc, argv, "+h:p:t:", longs, nullptr)) != -1) {
    switch (c) {
      case 'h':
        if (!add_hosts(optarg, o.hosts)) return false;
        break;
      case 'p': o.port = optarg; break;
      case 't':
        if (!parse_int("--threads", optarg, 1, 64, v)) return false;
        o.threads = static_cast<int>(v);
        break;
      case kServerPid:
        if (!parse_int("--server-pid", optarg, 1, 1L << 30, v)) return false;
        o.server_pid = static_cast<pid_t>(v);
        break;
      case kJson: o.json = true; break;
      case kTls: o.tls = true; break;
      case kSameNode: o.same_node = true; break;
      case kHelp:
        std::fputs(kUsage, stdout);
        *exit_code = 0;
        return false;
      default: return false;
    }
  }
  return true;
}

bool parse_mode_option(int c, Options& o) {
  long v = 0;
  switch (c) {
    case 'c':
      if (!parse_int("-c", optarg, 1, 100000, v)) return false;
      o.clients = static_cast<int>(v);
      return true;
    case 'P':
      if (!parse_int("-P", optarg, 1, 4096, v)) return false;
      o.depth = static_cast<int>(v);
      return true;
    case 'd': return parse_seconds(optarg, o.seconds);
    case 's':
      if (!parse_int("-s", optarg, 18, 60000, v)) return false;
      o.bytes = static_cast<int>(v);
      return true;
    case 'n':
      if (!parse_int("-n", optarg, 1, 1000000, v)) return false;
      o.connections = static_cast<int>(v);
      return true;
    case 'l':
      if (!parse_int("-l", optarg, 1, 100000, v)) return false;
      o.list_requests = static_cast<int>(v);
      return true;
    default: return false;
  }
}

}  // namespace

bool parse_options(int argc, char** argv, Options& o, int* exit_code) {
  *exit_code = 2;
  if (!parse_global(argc, argv, o, exit_code)) return false;
  if (o.port.empty()) o.port = o.tls ? "2556" : "2555";
  if (o.hosts.empty()) o.hosts.push_back({"127.0.0.1", ""});
  for (Endpoint& e : o.hosts) {
    if (e.port.empty()) e.port = o.port;
  }
  if (optind >= argc) {
    std::fputs(kUsage, stderr);
    return false;
  }
  if (!parse_mode(argv[optind], o.mode)) return false;
  if (o.mode == Mode::Connect) o.seconds = 0;
  // Rescan from the mode word: getopt treats argv[optind - 1] as the program.
  const int sub_argc = argc - optind;
  char** sub_argv = argv + optind;
  optind = 1;
  const char* spec = o.mode == Mode::Time ? "+c:P:d:" : o.mode == Mode::Send ? "+c:P:d:s:" : "+n:d:l:";
  int c;
  while ((c = getopt(sub_argc, sub_argv, spec)) != -1) {
    if (!parse_mode_option(c, o)) return false;
  }
  if (optind != sub_argc) {
    std::fprintf(stderr, "sockchat-bench: unexpected argument '%s'\n", sub_argv[optind]);
    return false;
  }
  return true;
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Time: return "time";
    case Mode::Send: return "send";
    case Mode::Connect: return "connect";
  }
  return "?";
}

}  // namespace sc::bench
