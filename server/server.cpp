#include "server/server.hpp"

#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/net.hpp"
#include "server/systemd.hpp"

namespace sc::server {
namespace {

// After EMFILE/ENFILE, stop accepting this long instead of spinning on a
// listening socket that stays readable.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
// STATUS= and repeated warnings at most once per this interval.
constexpr auto kReportInterval = std::chrono::seconds(1);
// Accepts per wake-up, so that signals and reaping are never starved.
constexpr int kAcceptBatch = 64;
// TLS clients turned away are told why over a handshake of their own (see
// refuse_over_tls()): at most this many at once server-wide, and at most
// kRefusalRate started per second (bursts of twice that), so that a flood
// of refused connections costs a few handshakes a second, however fast it
// comes; beyond either bound they are closed untold.
constexpr std::size_t kMaxRefusals = 8;
constexpr double kRefusalRate = 8;

int ms_until(Clock::time_point due, Clock::time_point now) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(due - now).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
}

}  // namespace

void Reaper::hand_over(Connection* c) {
  std::lock_guard lock(mu_);
  done_.push_back(c);
  if (done_.size() == 1) net::signal_wake(wake_fd_);
}

std::vector<Connection*> Reaper::collect() {
  std::vector<Connection*> done;
  std::lock_guard lock(mu_);
  done.swap(done_);
  return done;
}

Server::Server(const Options& opts, std::vector<Listener> listeners, int signal_fd,
               std::string where, std::shared_ptr<tls::Config> tls,
               std::shared_ptr<Accounts> accounts, std::unique_ptr<Cluster> cluster)
    : opts_(opts),
      listeners_(std::move(listeners)),
      signal_fd_(signal_fd),
      reaper_fd_(net::make_wake_fd()),
      where_(std::move(where)),
      tls_(std::move(tls)),
      cluster_(std::move(cluster)),
      shared_(opts, reaper_fd_, std::move(accounts)),
      per_address_(opts.max_clients_per_ip, opts.max_connect_rate),
      refusal_starts_(kRefusalRate, 2 * kRefusalRate, Clock::now()),
      reserve_fd_(open("/dev/null", O_RDONLY | O_CLOEXEC)) {
  if (cluster_) {
    shared_.cluster = cluster_.get();
    shared_.deliveries.set_node(cluster_->node(), cluster_->message_ids());
  }
}

Server::~Server() {
  // Its thread uses shared_, which is destroyed before cluster_.
  if (cluster_) cluster_->stop();
  for (const Listener& l : listeners_) close(l.fd);
  if (signal_fd_ >= 0) close(signal_fd_);
  if (reaper_fd_ >= 0) close(reaper_fd_);
  if (reserve_fd_ >= 0) close(reserve_fd_);
}

int Server::run() {
  if (reaper_fd_ < 0) {
    spdlog::error("cannot create an eventfd: {}", std::strerror(errno));
    return 1;
  }
  if (cluster_ && !cluster_->start(shared_)) return 1;
  watchdog_ = sd::watchdog_interval();
  Clock::time_point now = Clock::now();
  next_watchdog_ = now;
  sd::notify("READY=1");
  update_status(now, true);
  for (;;) {
    std::vector<pollfd> fds = {{signal_fd_, POLLIN, 0}, {reaper_fd_, POLLIN, 0}};
    const bool accepting = now >= accept_paused_until_;
    if (accepting) {
      for (const Listener& l : listeners_) fds.push_back({l.fd, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), wait_timeout_ms(now)) < 0 && errno != EINTR) {
      spdlog::error("poll: {}", std::strerror(errno));
      break;
    }
    now = Clock::now();
    if (fds[0].revents != 0 && signalled()) break;
    if (fds[1].revents != 0) reap();
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents != 0) accept_from(listeners_[i - 2], now);
    }
    if (now >= next_prune_) {
      per_address_.prune(now);
      next_prune_ = now + kReportInterval;
    }
    if (watchdog_ && now >= next_watchdog_) {
      sd::notify("WATCHDOG=1");
      next_watchdog_ = now + *watchdog_;
    }
    update_status(now, false);
  }
  stop_all();
  return cluster_ && cluster_->lost_id() ? 1 : 0;
}

int Server::wait_timeout_ms(Clock::time_point now) const {
  int timeout = -1;
  auto consider = [&](Clock::time_point due) {
    const int ms = ms_until(due, now);
    timeout = timeout < 0 ? ms : std::min(timeout, ms);
  };
  if (now < accept_paused_until_) consider(accept_paused_until_);
  if (watchdog_) consider(next_watchdog_);
  if (status_due_) consider(last_status_ + kReportInterval);
  // The cluster link's state goes into STATUS=: look at it every second.
  if (cluster_) consider(now + kReportInterval);
  return timeout;
}

void Server::accept_from(const Listener& l, Clock::time_point now) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    const net::AcceptResult r = net::accept_client(l.fd);
    switch (r.status) {
      case net::AcceptStatus::Ok:
        admit_or_refuse(r, now, l.tls);
        break;
      case net::AcceptStatus::WouldBlock:
        return;
      case net::AcceptStatus::Exhausted:
        if (turn_away_when_out_of_fds(l, r.err)) break;
        pause_accepting(now, "accept", r.err);
        return;
      case net::AcceptStatus::Error:
        spdlog::warn("accept: {}", std::strerror(r.err));
        return;
    }
  }
}

// Out of fds, memory or threads: stop accepting for a moment instead of
// spinning on a listening socket that stays readable.  Existing clients
// keep being served meanwhile.
void Server::pause_accepting(Clock::time_point now, const char* what, int err) {
  accept_paused_until_ = now + kAcceptBackoff;
  if (now - last_exhausted_log_ >= kReportInterval) {
    last_exhausted_log_ = now;
    spdlog::warn("{}: {}; pausing new connections for 100 ms", what, std::strerror(err));
  }
}

// Per-address limits first (an address over them is told it is its own
// doing), then the server-wide --max-clients.
bool Server::admit_or_refuse(const net::AcceptResult& r, Clock::time_point now, bool tls) {
  const AddressLimits::Verdict v = per_address_.arrive(r.peer, now);
  std::string why;
  Status status = Status::TooManyConnections;
  if (v == AddressLimits::Verdict::TooFast) {
    why = fmt::format("more than {} new connections per second from {}", opts_.max_connect_rate,
                      AddressLimits::describe(r.peer));
  } else if (v == AddressLimits::Verdict::TooMany) {
    why = fmt::format("{} clients already connected from {}", opts_.max_clients_per_ip,
                      AddressLimits::describe(r.peer));
  } else if (shared_.clients.load(std::memory_order_relaxed) >= opts_.max_clients) {
    per_address_.leave(r.peer);
    status = Status::ServerFull;
    why = fmt::format("server full ({} clients)", opts_.max_clients);
  } else {
    admit(r.fd, r.peer, now, tls);
    return true;
  }
  turn_away(r.fd, r.peer, status, why, tls, now);
  log_refusal(r.peer, why, now);
  return false;
}

// accept() failed for want of a file descriptor: spend the reserve one on
// accepting the newcomer, tell it, close it, take the reserve back.  False
// when there is no reserve (the caller pauses accepting instead).  A TLS
// newcomer is closed untold: telling it takes a handshake, which would keep
// the reserve busy for seconds while everyone behind it waits untold in the
// accept queue.
bool Server::turn_away_when_out_of_fds(const Listener& l, int err) {
  if ((err != EMFILE && err != ENFILE) || reserve_fd_ < 0) return false;
  close(reserve_fd_);
  reserve_fd_ = -1;
  const net::AcceptResult r = net::accept_client(l.fd);
  if (r.status == net::AcceptStatus::Ok) {
    const std::string why = "server is out of file descriptors";
    say_and_close(r.fd, Status::ServerFull, why, l.tls);
    log_refusal(r.peer, why, Clock::now());
  }
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return r.status == net::AcceptStatus::Ok && reserve_fd_ >= 0;
}

void Server::admit(int fd, const Addr& peer, Clock::time_point now, bool tls) {
  net::set_nodelay(fd);
  net::set_keepalive(fd, opts_.idle_timeout_s);
  std::unique_ptr<tls::TlsSession> session;
  if (tls) {
    // The context current now: a reload later does not touch this session.
    session = std::make_unique<tls::TlsSession>(tls_->current().get());
    if (!session->valid()) {
      close(fd);
      pause_accepting(now, "cannot start a TLS session", ENOMEM);
      per_address_.leave(peer);
      return;
    }
  }
  Entry entry{0, peer, realtime_us(), ""};
  if (!next_id(entry.id)) {
    turn_away(fd, peer, Status::ServerFull, "this node has used all its client ids; it must restart",
              tls, now);
    per_address_.leave(peer);
    return;
  }
  auto c = std::make_unique<Connection>(shared_, fd, entry, std::move(session));
  shared_.clients.fetch_add(1, std::memory_order_relaxed);
  if (!c->start()) {
    const int e = errno;
    if (!tls) {
      Bytes frame;
      put_error_indication(frame, Status::ServerFull, "server cannot start another connection now");
      net::send_some(fd, frame.data(), frame.size());
    }
    c->abandon();
    shared_.clients.fetch_sub(1, std::memory_order_relaxed);
    per_address_.leave(peer);
    pause_accepting(now, "cannot start a connection thread", e);
    return;
  }
  Connection* key = c.get();
  connections_.emplace(key, std::move(c));
}

// In a cluster the node id is the high 8 bits and the cluster's counter
// the low 24 (sockchatd(8) CLUSTER): unique across nodes without asking
// the broker, and beyond every id of the node's earlier runs.  Past
// 0xffffff the counter starts again at 1 (over ids of runs long gone), but
// one run hands out at most 0xffffff ids: the protocol promises that ids
// are never reused within one server run.
bool Server::next_id(std::uint32_t& id) {
  if (!cluster_) {
    id = next_client_id_++;
    return true;
  }
  if (cluster_ids_taken_ == kIdTop) return false;
  ++cluster_ids_taken_;
  id = (std::uint32_t{cluster_->node()} << 24) | cluster_->client_ids().take();
  return true;
}

// Over a limit: the ERROR indication, then close.  Such a connection never
// gets an id and never counts as a client.
void Server::turn_away(int fd, const Addr& peer, Status status, const std::string& why, bool tls,
                       Clock::time_point now) {
  if (tls && refuse_over_tls(fd, peer, status, why, now)) return;
  say_and_close(fd, status, why, tls);
}

// A plaintext client gets one non-blocking ERROR from this thread; a TLS
// client is only closed (it cannot read a frame before a handshake).
void Server::say_and_close(int fd, Status status, const std::string& why, bool tls) {
  if (!tls) {
    Bytes frame;
    put_error_indication(frame, status, why);
    net::send_some(fd, frame.data(), frame.size());
  }
  close(fd);
}

// A TLS client cannot read the ERROR before a handshake, and the main
// thread does none, so a connection thread does it: a Connection that only
// completes the handshake, says ERROR and closes (refuse_after_handshake()),
// with the same handshake code, goodbye and reaping as every client (no
// second TLS loop, no detached thread).  It is kept in refusals_, not
// connections_: it takes no id, no --max-clients slot and no per-address
// count, so reap() gives none back.  What a refusal may cost is bounded
// server-wide (kMaxRefusals at once, kRefusalRate a second, each handshake
// within kRefusalHandshake): an address over --max-connect-rate must not
// get the handshakes the limit denies it by being refused.  False (the
// caller closes fd) when over those bounds or without a session; true when
// fd is taken care of, also when no thread could be started.
bool Server::refuse_over_tls(int fd, const Addr& peer, Status status, const std::string& why,
                             Clock::time_point now) {
  if (refusals_.size() >= kMaxRefusals || !refusal_starts_.take(1, now)) return false;
  auto session = std::make_unique<tls::TlsSession>(tls_->current().get());
  if (!session->valid()) return false;
  net::set_nodelay(fd);
  auto c = std::make_unique<Connection>(shared_, fd, Entry{0, peer, realtime_us(), ""},
                                        std::move(session));
  c->refuse_after_handshake(status, why);
  if (!c->start()) {
    c->abandon();  // closes fd
    return true;
  }
  Connection* key = c.get();
  refusals_.emplace(key, std::move(c));
  return true;
}

// One warning per second at most, however many are turned away: a flood
// must not turn into a flood of log lines.  The ones not logged are counted
// in the next line.
void Server::log_refusal(const Addr& peer, const std::string& why, Clock::time_point now) {
  if (now - last_refusal_log_ < kReportInterval) {
    ++refused_since_log_;
    return;
  }
  spdlog::warn("turned away {}: {}{}", format_addr(peer), why,
               refused_since_log_ != 0
                   ? fmt::format(" (and {} more since the last such line)", refused_since_log_)
                   : std::string());
  last_refusal_log_ = now;
  refused_since_log_ = 0;
}

void Server::reap() {
  net::drain_wake(reaper_fd_);
  for (Connection* c : shared_.reaper.collect()) {
    c->join();
    if (refusals_.erase(c) != 0) continue;  // it held no count to give back
    per_address_.leave(c->addr());
    connections_.erase(c);
  }
}

// SIGHUP (`systemctl reload`) reloads the files named by options (TLS
// certificate and key, accounts); every other option comes from the command
// line, so only a restart can apply new ones.  The clients stay connected,
// rather than the default action killing the server.
bool Server::signalled() {
  signalfd_siginfo info{};
  if (read(signal_fd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return false;
  if (info.ssi_signo == SIGHUP) {
    reload_tls();
    reload_accounts();
    return false;
  }
  spdlog::info("received SIG{}, shutting down", sigabbrev_np(static_cast<int>(info.ssi_signo)));
  return true;
}

// SIGHUP (certbot renewals, systemctl reload): new connections get the new
// certificate and key, existing ones keep theirs; a failed reload keeps the
// old ones.
void Server::reload_tls() {
  if (!tls_) {
    spdlog::info("received SIGHUP; no TLS certificate to reload");
    return;
  }
  std::string why;
  if (tls_->load(why)) {
    spdlog::info("received SIGHUP; reloaded the TLS certificate and key");
  } else {
    spdlog::error("received SIGHUP; TLS reload failed, keeping the old certificate: {}", why);
  }
}

// Sign-ins from now on use the new set; clients signed in stay so, also
// when their account is gone (see sockchatd(8) SIGN-IN).  A failed reload
// keeps the old set.
void Server::reload_accounts() {
  if (!shared_.accounts) return;
  std::string why, warning;
  if (!shared_.accounts->load(why, warning)) {
    spdlog::error("received SIGHUP; accounts reload failed, keeping the old accounts: {}", why);
    return;
  }
  if (!warning.empty()) spdlog::warn("{}", warning);
  spdlog::info("received SIGHUP; reloaded {} account(s) from {}",
               shared_.accounts->current()->size(), shared_.accounts->path());
}

// STATUS= when the client count changed, at most once per second.
void Server::update_status(Clock::time_point now, bool force) {
  const std::uint32_t n = shared_.clients.load(std::memory_order_relaxed);
  const bool link = !cluster_ || cluster_->link_up();
  if (!force && n == reported_clients_ && link == reported_link_) {
    status_due_ = false;
    return;
  }
  if (!force && now - last_status_ < kReportInterval) {
    status_due_ = true;
    return;
  }
  sd::notify(fmt::format("STATUS=Listening on {}; {} client{}{}", where_, n, n == 1 ? "" : "s",
                         !cluster_ ? "" : link ? "; cluster link up" : "; cluster link DOWN"));
  reported_clients_ = n;
  reported_link_ = link;
  last_status_ = now;
  status_due_ = false;
}

// Stop accepting, tell every connection to say SHUTDOWN and close, join all.
// Every connection thread finishes within its bounded goodbye.
void Server::stop_all() {
  for (const Listener& l : listeners_) close(l.fd);
  listeners_.clear();
  sd::notify("STOPPING=1");
  spdlog::info("stopping: closing {} connections", connections_.size());
  for (auto& [key, c] : connections_) c->request_stop();
  for (auto& [key, c] : refusals_) c->request_stop();
  while (!connections_.empty() || !refusals_.empty()) {
    pollfd p{reaper_fd_, POLLIN, 0};
    poll(&p, 1, 1000);
    reap();
  }
  if (cluster_) cluster_->stop();
}

}  // namespace sc::server
