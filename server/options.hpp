// Command-line options of sockchatd: parsing, validation and --help.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace sc::server {

struct Options {
  std::string bind;          // empty: every address (IPv6 socket accepting IPv4)
  std::uint16_t port = 2555;
  std::string name;          // empty until resolved: the host name
  std::uint32_t max_clients = 1024;
  std::uint16_t heartbeat_s = 10;
  std::uint16_t idle_timeout_s = 30;
  std::uint16_t delivery_timeout_s = 5;
  std::uint32_t max_payload = 65536;
  std::uint64_t sendq = 1048576;
  std::uint32_t max_send_rate = 200;  // SENDs per second per client; 0 = unlimited
  // Per source address (IPv4 address, IPv6 /64); 0 = unlimited.
  std::uint32_t max_clients_per_ip = 16;
  std::uint32_t max_connect_rate = 10;     // connections per second, burst 2N
  // Request cost units per second per client, burst 2N (TIME costs 1).
  std::uint32_t max_request_rate = 10000;
  // Bytes of MESSAGEs awaiting one recipient's ACK, all senders together;
  // 0 until resolved: min(sendq, max(128 KiB, min_sendq(max_payload))).
  std::uint64_t max_unacked = 0;
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::string port_file;
  // TLS: a listener on tls_port when tls_cert is set (tls_key with it).
  std::string tls_cert;
  std::string tls_key;
  std::uint16_t tls_port = 2556;
  std::string tls_port_file;
  bool plain = true;  // --plain off: the TLS listener only
  // Sign-in: accounts from this file (see server/accounts.hpp); without
  // allow_guests the server requires sign-in.
  std::string accounts_file;
  bool allow_guests = false;
  // --cluster (see server/cluster.hpp): the broker, either redis_host and
  // redis_port or redis_unix; empty cluster_url: a server on its own.
  // cluster_url is the URL with any password replaced by "***": it is the
  // one that may be logged.
  std::string cluster_url;
  // Sent with AUTH after every (re)connect: the user (empty: the default
  // user) and the password of the URL's user:password@, or the password
  // read from --cluster-password-file at start (server/cluster.cpp).
  std::string redis_user;
  std::string redis_password;
  std::string redis_password_file;
  std::string redis_host;
  std::uint16_t redis_port = 0;
  std::string redis_unix;
  std::uint8_t node_id = 0;       // 1..255 with --cluster
  std::uint16_t node_ttl_s = 6;   // silence after which a node counts as dead
};

// Parses --cluster's URL: redis://[USER[:PASSWORD]@]HOST:PORT or unix:PATH.
// False with the reason in `why`.
bool parse_cluster_url(std::string_view url, Options& o, std::string& why);

// The file named by --accounts, --tls-cert or --tls-key: a relative name is
// looked up in $CREDENTIALS_DIRECTORY when that is set (systemd's
// LoadCredential=), else in the current directory.
std::string credential_path(const std::string& name);

// The smallest --sendq for a given --max-payload: the queue must be able to
// hold one MESSAGE carrying the largest text a SEND can bring (16-byte
// header, sender id, addr, nick, sent-at), or that message could never be
// delivered at all.
std::uint64_t min_sendq(std::uint32_t max_payload);

// While a client's unsent output (queued plus this turn's answers) is above
// this, its requests are not read, so that TCP pushes back on a client that
// does not read.  Half of --sendq, and always room below --sendq for the
// largest answer but LIST (a PING echo of max-payload bytes).  At the
// smallest --sendq it is 0: a request is answered only once everything
// before it was sent.
inline std::uint64_t soft_sendq(std::uint64_t sendq, std::uint32_t max_payload) {
  return std::min(sendq / 2, sendq - min_sendq(max_payload));
}

enum class ParseOutcome { Run, ExitOk, ExitUsage };

// Parses argv into `out`.  Prints --help / --version to stdout (ExitOk), or
// one line naming the bad option or value plus a hint to stderr (ExitUsage).
ParseOutcome parse_options(int argc, char** argv, Options& out);

// Fills in the default name (the host name) when --name was not given.
void resolve_default_name(Options& o);

}  // namespace sc::server
