// sockchatd: start-up (options, logging, signals, listening socket) and
// hand-over to the main loop in server.cpp.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/codec.hpp"
#include "common/net.hpp"
#include "common/nickname.hpp"
#include "server/logging.hpp"
#include "server/options.hpp"
#include "server/peer.hpp"
#include "server/server.hpp"
#include "server/systemd.hpp"

namespace {

using sc::server::Options;

void fail_start(const std::string& what) { std::fprintf(stderr, "sockchatd: %s\n", what.c_str()); }

// Blocks SIGINT, SIGTERM and SIGHUP in this thread before any other thread exists,
// so every thread inherits the mask and the signals are only ever read from
// the signalfd in the main loop.  SIGPIPE is ignored (sends also use
// MSG_NOSIGNAL).  SIGURG gets the empty handler connection threads are
// woken with (server/peer.hpp).
int watch_signals() {
  signal(SIGPIPE, SIG_IGN);
  if (!sc::server::install_wake_handler()) return -1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

// How the bind address reads in messages: "[::]", "127.0.0.1", "[::1]".
std::string bind_display(const Options& o) {
  if (o.bind.empty()) return "[::]";
  if (o.bind.find(':') != std::string::npos) return "[" + o.bind + "]";
  return o.bind;
}

int listen_on(const Options& o, std::uint16_t port) {
  std::string err;
  const int fd = sc::net::listen_tcp(o.bind, port, SOMAXCONN, err);
  if (fd < 0) {
    // err reads "listen on <endpoint>: <reason>"; keep the reason only.
    const std::size_t colon = err.rfind(": ");
    const std::string reason = colon == std::string::npos ? err : err.substr(colon + 2);
    fail_start("cannot listen on " + bind_display(o) + ":" + std::to_string(port) + ": " + reason);
  }
  return fd;
}

// Plaintext: the socket-activated fds (3, 4, ...) or a socket of our own
// (none with --plain off).  TLS: always a socket of our own on --tls-port;
// systemd does not pass TLS sockets (yet).
bool open_listeners(const Options& o, std::vector<sc::server::Listener>& out) {
  if (const int n = sc::sd::listen_fds(); n >= 1) {
    if (!o.plain) {
      fail_start("--plain off, but systemd passed " + std::to_string(n) +
                 " socket(s), which are served as plaintext");
      return false;
    }
    for (int fd = 3; fd < 3 + n; ++fd) {
      sc::net::set_nonblocking(fd, true);
      out.push_back({fd, false});
    }
  } else if (o.plain) {
    const int fd = listen_on(o, o.port);
    if (fd < 0) return false;
    out.push_back({fd, false});
  }
  if (!o.tls_cert.empty()) {
    const int fd = listen_on(o, o.tls_port);
    if (fd < 0) return false;
    out.push_back({fd, true});
  }
  return true;
}

// Written atomically (temporary file, then rename) so that a reader never
// sees a half-written number.
bool write_port_file(const std::string& path, std::uint16_t port) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "w");
  bool ok = f != nullptr && std::fprintf(f, "%u\n", unsigned{port}) > 0;
  if (f != nullptr && std::fclose(f) != 0) ok = false;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) return true;
  fail_start("cannot write port file " + path + ": " + std::strerror(errno));
  std::remove(tmp.c_str());
  return false;
}

// Loads the time zone before any connection thread exists.  glibc allocates
// the zone abbreviations (tm_zone) on the first localtime_r() under a lock
// of its own that sanitizers cannot see; doing it here, before
// pthread_create(), makes the hand-over of those strings visibly ordered and
// keeps the first TIME requests of concurrent clients from racing to do it.
void load_time_zone() {
  tzset();
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
}

// A limit for the log: "unlimited" for 0, else the number and its unit.
std::string limit_text(std::uint64_t limit, const char* unit) {
  return limit == 0 ? std::string("unlimited") : std::to_string(limit) + unit;
}

// One fd per client plus a few of our own.  Beyond the limit newcomers are
// told SERVER_FULL (the spare fd), so this only warns the admin early; the
// limit itself is theirs to set (ulimit -n, LimitNOFILE=: the shipped unit
// sets 65536).
void check_open_files(const Options& o) {
  const rlim_t need = rlim_t{o.max_clients} + 64;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= need) return;
  spdlog::warn("--max-clients {} needs {} open files but the limit is {} (ulimit -n, "
               "LimitNOFILE=): about {} clients fit, newcomers beyond get SERVER_FULL",
               o.max_clients, static_cast<unsigned long long>(need),
               static_cast<unsigned long long>(lim.rlim_cur),
               static_cast<unsigned long long>(lim.rlim_cur > 64 ? lim.rlim_cur - 64 : 0));
}

// --accounts: a file that cannot be read or parsed stops the start, like
// an unloadable certificate.
bool load_accounts(const Options& o, std::shared_ptr<sc::server::Accounts>& out) {
  auto accounts = std::make_shared<sc::server::Accounts>(o.accounts_file);
  std::string why, warning;
  if (!accounts->load(why, warning)) {
    fail_start(why);
    return false;
  }
  if (!warning.empty()) spdlog::warn("{}", warning);
  const std::size_t n = accounts->current()->size();
  if (n == 0) spdlog::warn("accounts file {} holds no account: nobody can sign in", o.accounts_file);
  spdlog::info("{} account(s) from {}; {}", n, o.accounts_file,
               o.allow_guests ? "guests allowed" : "clients must sign in");
  out = std::move(accounts);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  switch (sc::server::parse_options(argc, argv, opts)) {
    case sc::server::ParseOutcome::ExitOk: return 0;
    case sc::server::ParseOutcome::ExitUsage: return 2;
    case sc::server::ParseOutcome::Run: break;
  }
  sc::server::setup_logging(opts.log_level, sc::sd::stderr_is_journal());
  sc::server::resolve_default_name(opts);
  // One malloc arena per thread would cost every idle connection thread its
  // own heap; a few arenas shared by all keep idle clients small.
  mallopt(M_ARENA_MAX, 4);
  load_time_zone();
  check_open_files(opts);
  // The nick policy builds its look-alike table on first use (~0.1 s): now,
  // rather than in the first client's NICK.
  sc::nickname::key("");

  const int signal_fd = watch_signals();
  if (signal_fd < 0) {
    fail_start(std::string("cannot watch signals: ") + std::strerror(errno));
    return 1;
  }
  std::shared_ptr<sc::server::tls::Config> tls;
  if (!opts.tls_cert.empty()) {
    tls = std::make_shared<sc::server::tls::Config>(opts.tls_cert, opts.tls_key);
    std::string why;
    if (!tls->load(why)) {
      fail_start(why);
      return 1;
    }
  }
  std::shared_ptr<sc::server::Accounts> accounts;
  if (!opts.accounts_file.empty() && !load_accounts(opts, accounts)) return 1;
  // Before listening: a node id in use, or no broker, stops the start.
  std::unique_ptr<sc::server::Cluster> cluster;
  if (!opts.cluster_url.empty()) {
    cluster = std::make_unique<sc::server::Cluster>(opts);
    std::string why;
    if (!cluster->claim(why)) {
      fail_start(why);
      return 1;
    }
    spdlog::info("cluster node {} through {} (node TTL {} s)", opts.node_id, opts.cluster_url,
                 opts.node_ttl_s);
  }
  std::vector<sc::server::Listener> listeners;
  if (!open_listeners(opts, listeners)) return 1;
  std::string where;
  bool port_written[2] = {false, false};  // plaintext, TLS: the first listener of each
  for (const sc::server::Listener& l : listeners) {
    const sc::Addr local = sc::net::local_addr(l.fd);
    const std::string& file = l.tls ? opts.tls_port_file : opts.port_file;
    if (!file.empty() && !port_written[l.tls ? 1 : 0] && !write_port_file(file, local.port)) return 1;
    port_written[l.tls ? 1 : 0] = true;
    where += (where.empty() ? "" : ", ") + std::string(l.tls ? "TLS " : "") + sc::format_addr(local);
  }
  spdlog::info(
      "listening on {} (max {} clients, {} per address, {} connects/s per address, heartbeat {} s, "
      "idle timeout {} s, delivery timeout {} s, max payload {} bytes, sendq {} bytes, "
      "max unacked {} bytes, send rate {}, request budget {})",
      where, opts.max_clients, limit_text(opts.max_clients_per_ip, ""),
      limit_text(opts.max_connect_rate, ""), opts.heartbeat_s, opts.idle_timeout_s,
      opts.delivery_timeout_s, opts.max_payload, opts.sendq, opts.max_unacked,
      limit_text(opts.max_send_rate, "/s"), limit_text(opts.max_request_rate, " units/s"));
  sc::server::Server server(opts, std::move(listeners), signal_fd, where, std::move(tls),
                            std::move(accounts), std::move(cluster));
  return server.run();
}
