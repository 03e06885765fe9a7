// The main thread's loop: accepts connections, starts and joins their
// threads, handles SIGINT/SIGTERM (stop) and SIGHUP (reload the TLS
// certificate and key and the accounts) and keeps systemd informed.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "server/address_limits.hpp"
#include "server/cluster.hpp"
#include "server/connection.hpp"
#include "server/options.hpp"
#include "server/shared.hpp"
#include "server/tls.hpp"
#include "server/token_bucket.hpp"

namespace sc::server {

struct Listener {
  int fd;
  bool tls;  // its clients start with a TLS handshake
};

class Server {
 public:
  // `listeners` are non-blocking listening sockets; `signal_fd` reports
  // SIGINT/SIGTERM/SIGHUP.  Takes ownership of all of them.  `tls` is null
  // when no listener is TLS, `accounts` without --accounts.
  Server(const Options& opts, std::vector<Listener> listeners, int signal_fd, std::string where,
         std::shared_ptr<tls::Config> tls, std::shared_ptr<Accounts> accounts,
         std::unique_ptr<Cluster> cluster = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until a signal asks to stop; returns the exit status.
  int run();

 private:
  int wait_timeout_ms(Clock::time_point now) const;
  void accept_from(const Listener& l, Clock::time_point now);
  void admit(int fd, const Addr& peer, Clock::time_point now, bool tls);
  void pause_accepting(Clock::time_point now, const char* what, int err);
  void turn_away(int fd, const Addr& peer, Status status, const std::string& why, bool tls,
                 Clock::time_point now);
  bool refuse_over_tls(int fd, const Addr& peer, Status status, const std::string& why,
                       Clock::time_point now);
  static void say_and_close(int fd, Status status, const std::string& why, bool tls);
  bool turn_away_when_out_of_fds(const Listener& l, int err);
  bool admit_or_refuse(const net::AcceptResult& r, Clock::time_point now, bool tls);
  void reload_tls();
  void reload_accounts();
  void log_refusal(const Addr& peer, const std::string& why, Clock::time_point now);
  void reap();
  bool signalled();
  void update_status(Clock::time_point now, bool force);
  void stop_all();
  bool next_id(std::uint32_t& id);

  const Options& opts_;
  std::vector<Listener> listeners_;
  int signal_fd_;
  int reaper_fd_;
  std::string where_;  // "[::]:2555", for STATUS=
  std::shared_ptr<tls::Config> tls_;
  std::unique_ptr<Cluster> cluster_;  // null without --cluster
  Shared shared_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  // TLS clients being told why they were turned away (refuse_over_tls()):
  // apart from connections_, as they hold no client slot and no
  // per-address count that reap() could give back.
  std::unordered_map<Connection*, std::unique_ptr<Connection>> refusals_;
  std::uint32_t next_client_id_ = 1;  // without --cluster; never reused within one run
  std::uint32_t cluster_ids_taken_ = 0;  // with --cluster: ids this run handed out
  AddressLimits per_address_;
  TokenBucket refusal_starts_;  // of refusals_ (refuse_over_tls())
  // Kept open to be closed when accept() says EMFILE, so that the newcomer
  // can still be accepted, told SERVER_FULL and closed instead of hanging in
  // the accept queue (tmux and libevent keep such a spare fd too).
  int reserve_fd_ = -1;
  Clock::time_point next_prune_{};

  Clock::time_point accept_paused_until_{};
  Clock::time_point last_exhausted_log_{};
  Clock::time_point last_refusal_log_{};
  std::uint64_t refused_since_log_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
  Clock::time_point next_watchdog_{};
  std::uint32_t reported_clients_ = 0;
  bool reported_link_ = true;
  Clock::time_point last_status_{};
  bool status_due_ = false;
};

}  // namespace sc::server
