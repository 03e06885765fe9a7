#include "server/options.hpp"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/codec.hpp"
#include "common/version.hpp"

namespace sc::server {
namespace {

constexpr const char* kHelp =
    "Usage: sockchatd [OPTION]...\n"
    "Serve sockchat clients over TCP (protocol: sockchat-protocol(7)).\n"
    "\n"
    "  -b, --bind ADDR            listen on ADDR only (default: every address, IPv6 and IPv4)\n"
    "  -p, --port N               TCP port; 0 picks a free port (default: 2555)\n"
    "  -n, --name NAME            server name sent to clients (default: the host name)\n"
    "  -m, --max-clients N        most clients connected at once, 1..1000000 (default: 1024)\n"
    "      --heartbeat S          heartbeat interval announced to clients, 1..65535 (default: 10)\n"
    "      --idle-timeout S       close a connection that sent no request for S seconds;\n"
    "                             must exceed the heartbeat (default: 30)\n"
    "      --delivery-timeout S   seconds a target has to acknowledge a message, 1..65535 (default: 5)\n"
    "      --max-payload BYTES    largest request payload, 64..16776192 (default: 65536)\n"
    "      --sendq BYTES          most unsent bytes queued for one client, at least\n"
    "                             max-payload + 128, at most 1 GiB (default: 1048576)\n"
    "      --max-send-rate N      SENDs per second per client, burst 2N, a SEND costing one\n"
    "                             per started KiB of text; 0 = unlimited (default: 200)\n"
    "      --max-unacked BYTES    most bytes of messages awaiting one client's\n"
    "                             acknowledgement, all senders together; at least\n"
    "                             max-payload + 128, at most --sendq (default: 131072,\n"
    "                             or --sendq if smaller)\n"
    "      --max-request-rate N   request cost units per second per client, burst 2N\n"
    "                             (TIME costs 1, LIST 100); 0 = unlimited (default: 10000)\n"
    "      --max-clients-per-ip N most clients from one IPv4 address or IPv6 /64;\n"
    "                             0 = unlimited (default: 16)\n"
    "      --max-connect-rate N   new connections per second from one address, burst 2N;\n"
    "                             0 = unlimited (default: 10)\n"
    "  -l, --log-level LEVEL      trace, debug, info, warn, error or off (default: info)\n"
    "      --port-file PATH       write the bound port number to PATH once listening\n"
    "      --tls-cert FILE        PEM certificate chain; with --tls-key, also serve TLS\n"
    "      --tls-key FILE         PEM private key of --tls-cert\n"
    "      --tls-port N           TLS port; 0 picks a free port (default: 2556)\n"
    "      --tls-port-file PATH   write the bound TLS port number to PATH once listening\n"
    "      --plain on|off         off: serve TLS only, nothing on --port (default: on)\n"
    "      --accounts FILE        accounts (name:crypt-hash lines); clients must sign in\n"
    "      --allow-guests         with --accounts: signing in is optional\n"
    "      --cluster URL          serve as one node of a cluster through the Redis at\n"
    "                             URL, redis://[USER[:PASSWORD]@]HOST:PORT or unix:PATH\n"
    "      --cluster-password-file FILE\n"
    "                             the Redis password (first line of FILE), sent with\n"
    "                             AUTH (as the URL's USER, if any) on every connect\n"
    "      --node-id N            this node's id in the cluster, 1..255 (with --cluster)\n"
    "      --node-ttl S           seconds of silence after which a node counts as dead,\n"
    "                             3..3600 (default: 6)\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "Relative FILEs of --tls-cert, --tls-key, --accounts and --cluster-password-file\n"
    "are looked up in $CREDENTIALS_DIRECTORY when it is set (systemd's\n"
    "LoadCredential=).\n";

enum LongOnly : int {
  kHeartbeat = 256,
  kIdleTimeout,
  kDeliveryTimeout,
  kMaxPayload,
  kSendq,
  kMaxSendRate,
  kMaxUnacked,
  kMaxRequestRate,
  kMaxClientsPerIp,
  kMaxConnectRate,
  kPortFile,
  kTlsCert,
  kTlsKey,
  kTlsPort,
  kTlsPortFile,
  kPlain,
  kAccounts,
  kAllowGuests,
  kCluster,
  kNodeId,
  kNodeTtl,
  kClusterPasswordFile,
};

constexpr option kLongOptions[] = {
    {"bind", required_argument, nullptr, 'b'},
    {"port", required_argument, nullptr, 'p'},
    {"name", required_argument, nullptr, 'n'},
    {"max-clients", required_argument, nullptr, 'm'},
    {"heartbeat", required_argument, nullptr, kHeartbeat},
    {"idle-timeout", required_argument, nullptr, kIdleTimeout},
    {"delivery-timeout", required_argument, nullptr, kDeliveryTimeout},
    {"max-payload", required_argument, nullptr, kMaxPayload},
    {"sendq", required_argument, nullptr, kSendq},
    {"max-send-rate", required_argument, nullptr, kMaxSendRate},
    {"max-unacked", required_argument, nullptr, kMaxUnacked},
    {"max-request-rate", required_argument, nullptr, kMaxRequestRate},
    {"max-clients-per-ip", required_argument, nullptr, kMaxClientsPerIp},
    {"max-connect-rate", required_argument, nullptr, kMaxConnectRate},
    {"log-level", required_argument, nullptr, 'l'},
    {"port-file", required_argument, nullptr, kPortFile},
    {"tls-cert", required_argument, nullptr, kTlsCert},
    {"tls-key", required_argument, nullptr, kTlsKey},
    {"tls-port", required_argument, nullptr, kTlsPort},
    {"tls-port-file", required_argument, nullptr, kTlsPortFile},
    {"plain", required_argument, nullptr, kPlain},
    {"accounts", required_argument, nullptr, kAccounts},
    {"allow-guests", no_argument, nullptr, kAllowGuests},
    {"cluster", required_argument, nullptr, kCluster},
    {"node-id", required_argument, nullptr, kNodeId},
    {"node-ttl", required_argument, nullptr, kNodeTtl},
    {"cluster-password-file", required_argument, nullptr, kClusterPasswordFile},
    {"help", no_argument, nullptr, 'h'},
    {"version", no_argument, nullptr, 'V'},
    {nullptr, 0, nullptr, 0},
};

constexpr std::uint64_t kMaxSendq = 1ull << 30;
// Room for one largest message and as much again of ordinary ones.  A
// recipient's own answers wait behind at most this many bytes of others'
// messages, so it is also the latency a slow reader pays for being sent
// to: 131 ms at 1 MB/s.  256 KiB (the first choice) doubled that for no
// gain a person would notice (sockchatd(8) LIMITS, bench/README.md).
constexpr std::uint64_t kDefaultMaxUnacked = 128 * 1024;

void usage_error(const std::string& line) {
  std::fprintf(stderr, "sockchatd: %s\nTry 'sockchatd --help'.\n", line.c_str());
}

void bad_value(std::string_view option, std::string_view value, std::string_view expected) {
  usage_error("invalid value '" + std::string(value) + "' for --" + std::string(option) +
              ": expected " + std::string(expected));
}

// Strict decimal: digits only, no sign or spaces, within [lo, hi].
bool parse_number(std::string_view s, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return false;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

template <class T>
bool set_number(const char* option, const char* value, std::uint64_t lo, std::uint64_t hi,
                const char* expected, T& field) {
  std::uint64_t v = 0;
  if (!parse_number(value, lo, hi, v)) {
    bad_value(option, value, expected);
    return false;
  }
  field = static_cast<T>(v);
  return true;
}

// C0 controls, DEL, and C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
bool has_control(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9f) return true;
  }
  return false;
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= kMaxStr8Bytes && valid_utf8(s) && !has_control(s);
}

bool parse_level(std::string_view s, spdlog::level::level_enum& out) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off},
  };
  for (const auto& [name, level] : kLevels) {
    if (s == name) {
      out = level;
      return true;
    }
  }
  return false;
}

bool set_path(const char* option, const char* arg, std::string& field) {
  if (*arg == '\0') {
    bad_value(option, arg, "a file name");
    return false;
  }
  field = arg;
  return true;
}

// The TLS options go together: a key with its certificate, and nothing to
// serve without either TLS or plaintext.
bool check_tls(const Options& o, bool tls_port_given) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    usage_error(o.tls_cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
    return false;
  }
  if (o.tls_cert.empty() && (tls_port_given || !o.tls_port_file.empty())) {
    usage_error(std::string(tls_port_given ? "--tls-port" : "--tls-port-file") +
                " needs --tls-cert and --tls-key");
    return false;
  }
  if (o.tls_cert.empty() && !o.plain) {
    usage_error("--plain off needs --tls-cert and --tls-key (nothing would be served)");
    return false;
  }
  return true;
}

// Applies one option; false after printing a usage error.
bool apply_option(int c, const char* arg, Options& o) {
  switch (c) {
    case 'b': o.bind = arg; return true;
    case 'p': return set_number("port", arg, 0, 65535, "0..65535", o.port);
    case 'n':
      if (!valid_name(arg)) {
        bad_value("name", arg, "1..255 bytes of UTF-8 without control characters");
        return false;
      }
      o.name = arg;
      return true;
    case 'm': return set_number("max-clients", arg, 1, 1000000, "1..1000000", o.max_clients);
    case kHeartbeat: return set_number("heartbeat", arg, 1, 65535, "1..65535", o.heartbeat_s);
    case kIdleTimeout:
      return set_number("idle-timeout", arg, 1, 65535, "1..65535", o.idle_timeout_s);
    case kDeliveryTimeout:
      return set_number("delivery-timeout", arg, 1, 65535, "1..65535", o.delivery_timeout_s);
    case kMaxPayload:
      return set_number("max-payload", arg, kMinMaxPayload, kMaxMaxPayload, "64..16776192",
                        o.max_payload);
    case kSendq: return set_number("sendq", arg, 1, kMaxSendq, "1..1073741824", o.sendq);
    case kMaxSendRate:
      return set_number("max-send-rate", arg, 0, 1000000, "0..1000000", o.max_send_rate);
    case kMaxUnacked:
      return set_number("max-unacked", arg, 1, kMaxSendq, "1..1073741824", o.max_unacked);
    case kMaxRequestRate:
      return set_number("max-request-rate", arg, 0, 100000000, "0..100000000", o.max_request_rate);
    case kMaxClientsPerIp:
      return set_number("max-clients-per-ip", arg, 0, 1000000, "0..1000000", o.max_clients_per_ip);
    case kMaxConnectRate:
      return set_number("max-connect-rate", arg, 0, 1000000, "0..1000000", o.max_connect_rate);
    case 'l':
      if (!parse_level(arg, o.log_level)) {
        bad_value("log-level", arg, "trace, debug, info, warn, error or off");
        return false;
      }
      return true;
    case kPortFile: return set_path("port-file", arg, o.port_file);
    case kTlsCert: return set_path("tls-cert", arg, o.tls_cert);
    case kTlsKey: return set_path("tls-key", arg, o.tls_key);
    case kTlsPort: return set_number("tls-port", arg, 0, 65535, "0..65535", o.tls_port);
    case kTlsPortFile: return set_path("tls-port-file", arg, o.tls_port_file);
    case kPlain:
      if (std::string_view(arg) != "on" && std::string_view(arg) != "off") {
        bad_value("plain", arg, "on or off");
        return false;
      }
      o.plain = std::string_view(arg) == "on";
      return true;
    case kAccounts: return set_path("accounts", arg, o.accounts_file);
    case kAllowGuests: o.allow_guests = true; return true;
    case kCluster: {
      std::string why;
      if (!parse_cluster_url(arg, o, why)) {
        // Never echo a password: show the URL only from its last '@' on.
        std::string shown(arg);
        if (const std::size_t at = shown.rfind('@'); at != std::string::npos) shown.replace(0, at, "...");
        bad_value("cluster", shown, why);
        return false;
      }
      return true;
    }
    case kNodeId: return set_number("node-id", arg, 1, 255, "1..255", o.node_id);
    case kNodeTtl: return set_number("node-ttl", arg, 3, 3600, "3..3600", o.node_ttl_s);
    case kClusterPasswordFile: return set_path("cluster-password-file", arg, o.redis_password_file);
  }
  return false;
}

// Checks between options, once all are known.
// The blame goes to --idle-timeout when it was given, else to --heartbeat.
bool check_relations(const Options& o, const char* heartbeat_arg, const char* idle_arg,
                     const char* sendq_arg) {
  if (o.idle_timeout_s <= o.heartbeat_s) {
    if (idle_arg != nullptr || heartbeat_arg == nullptr) {
      bad_value("idle-timeout", std::to_string(o.idle_timeout_s),
                "more than --heartbeat (" + std::to_string(o.heartbeat_s) + ")");
    } else {
      bad_value("heartbeat", heartbeat_arg,
                "less than --idle-timeout (" + std::to_string(o.idle_timeout_s) + ")");
    }
    return false;
  }
  if (o.sendq < min_sendq(o.max_payload)) {
    bad_value("sendq", sendq_arg ? sendq_arg : std::to_string(o.sendq),
              std::to_string(min_sendq(o.max_payload)) + "..1073741824 (at least --max-payload + 128)");
    return false;
  }
  if (o.max_unacked != 0 &&
      (o.max_unacked < min_sendq(o.max_payload) || o.max_unacked > o.sendq)) {
    bad_value("max-unacked", std::to_string(o.max_unacked),
              std::to_string(min_sendq(o.max_payload)) + ".." + std::to_string(o.sendq) +
                  " (at least --max-payload + 128, at most --sendq)");
    return false;
  }
  return true;
}

// Names the offending option of a getopt error ('?' or ':').
void report_getopt_error(int c, char** argv) {
  const char* word = argv[optind - 1];
  if (c == ':') {
    usage_error(std::string("option '") + word + "' needs a value");
  } else if (optopt != 0) {
    usage_error(std::string("unknown option '-") + static_cast<char>(optopt) + "'");
  } else {
    usage_error(std::string("unknown option '") + word + "'");
  }
}

}  // namespace

std::uint64_t min_sendq(std::uint32_t max_payload) {
  return std::uint64_t{max_payload} + 128;
}

ParseOutcome parse_options(int argc, char** argv, Options& out) {
  Options o;
  const char* heartbeat_arg = nullptr;
  const char* idle_arg = nullptr;
  const char* sendq_arg = nullptr;
  bool tls_port_given = false;
  bool node_ttl_given = false;
  opterr = 0;  // we print our own one-line messages
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":b:p:n:m:l:hV", kLongOptions, nullptr)) != -1) {
    if (c == 'h') {
      std::fputs(kHelp, stdout);
      return ParseOutcome::ExitOk;
    }
    if (c == 'V') {
      std::puts("sockchatd " SOCKCHAT_VERSION);
      return ParseOutcome::ExitOk;
    }
    if (c == '?' || c == ':') {
      report_getopt_error(c, argv);
      return ParseOutcome::ExitUsage;
    }
    if (c == kHeartbeat) heartbeat_arg = optarg;
    if (c == kIdleTimeout) idle_arg = optarg;
    if (c == kSendq) sendq_arg = optarg;
    if (c == kTlsPort) tls_port_given = true;
    if (c == kNodeTtl) node_ttl_given = true;
    if (!apply_option(c, optarg, o)) return ParseOutcome::ExitUsage;
  }
  if (optind < argc) {
    usage_error(std::string("unexpected argument '") + argv[optind] + "'");
    return ParseOutcome::ExitUsage;
  }
  if (!check_relations(o, heartbeat_arg, idle_arg, sendq_arg)) return ParseOutcome::ExitUsage;
  if (!check_tls(o, tls_port_given)) return ParseOutcome::ExitUsage;
  if (o.allow_guests && o.accounts_file.empty()) {
    usage_error("--allow-guests needs --accounts (without accounts everyone is a guest)");
    return ParseOutcome::ExitUsage;
  }
  if (o.cluster_url.empty() != (o.node_id == 0)) {
    usage_error(o.cluster_url.empty() ? "--node-id needs --cluster"
                                      : "--cluster needs --node-id (1..255, unique in the cluster)");
    return ParseOutcome::ExitUsage;
  }
  if (o.cluster_url.empty() && node_ttl_given) {
    usage_error("--node-ttl needs --cluster");
    return ParseOutcome::ExitUsage;
  }
  if (!o.redis_password_file.empty() && (o.cluster_url.empty() || !o.redis_password.empty())) {
    usage_error(o.cluster_url.empty() ? "--cluster-password-file needs --cluster"
                                      : "a password in the --cluster URL and --cluster-password-file: give one");
    return ParseOutcome::ExitUsage;
  }
  o.redis_password_file = o.redis_password_file.empty() ? "" : credential_path(o.redis_password_file);
  o.accounts_file = o.accounts_file.empty() ? "" : credential_path(o.accounts_file);
  o.tls_cert = o.tls_cert.empty() ? "" : credential_path(o.tls_cert);
  o.tls_key = o.tls_key.empty() ? "" : credential_path(o.tls_key);
  if (o.max_unacked == 0) {
    o.max_unacked = std::min(o.sendq, std::max<std::uint64_t>(kDefaultMaxUnacked, min_sendq(o.max_payload)));
  }
  out = std::move(o);
  return ParseOutcome::Run;
}

// hiredis 0.14 (Debian 12) speaks neither TLS nor RESP3, so rediss:// is
// refused rather than silently sent in clear; see sockchatd(8) CLUSTER.
bool parse_cluster_url(std::string_view url, Options& o, std::string& why) {
  constexpr std::string_view kTcp = "redis://", kUnix = "unix:";
  if (url.starts_with("rediss://")) {
    why = "redis://HOST:PORT or unix:PATH (this build's hiredis has no TLS)";
    return false;
  }
  if (url.starts_with(kUnix) && url.size() > kUnix.size()) {
    o.redis_unix = std::string(url.substr(kUnix.size()));
    o.cluster_url = std::string(url);
    return true;
  }
  why = "redis://[USER[:PASSWORD]@]HOST:PORT or unix:PATH";
  if (!url.starts_with(kTcp)) return false;
  std::string_view rest = url.substr(kTcp.size());
  // USER[:PASSWORD]@ as in redis-cli -u; the last '@' ends it, so the
  // password may hold '@' and ':' (no %-decoding).
  std::string shown(kTcp);
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    o.redis_user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) o.redis_password = std::string(userinfo.substr(colon + 1));
    if (colon != std::string_view::npos && o.redis_password.empty()) {
      why += " (an empty password after ':')";
      return false;
    }
    shown += o.redis_user + (o.redis_password.empty() ? "" : ":***") + "@";
    rest = rest.substr(at + 1);
  }
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || rest.find('/') != std::string_view::npos) {
    return false;
  }
  std::string_view host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::uint64_t port = 0;
  if (!parse_number(rest.substr(colon + 1), 1, 65535, port)) {
    why += " (PORT 1..65535)";
    return false;
  }
  o.redis_host = std::string(host);
  o.redis_port = static_cast<std::uint16_t>(port);
  o.cluster_url = shown + std::string(rest);
  return true;
}

std::string credential_path(const std::string& name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (name.starts_with('/') || dir == nullptr || *dir == '\0') return name;
  return std::string(dir) + "/" + name;
}

void resolve_default_name(Options& o) {
  if (!o.name.empty()) return;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0 && valid_name(host)) {
    o.name = host;
  } else {
    o.name = "sockchatd";
  }
}

}  // namespace sc::server
