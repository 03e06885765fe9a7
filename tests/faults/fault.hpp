// Helpers shared by the fault tests (suite 'faults'), on top of the
// integration harness (tests/integration/harness.hpp): raw connections that
// misbehave, helper processes, and "is the server still fine" checks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"

namespace sc::ftest {

using itest::Client;
using itest::Clock;
using itest::Ms;
using itest::Server;

// A fresh client gets its TIME answered (OK) within the harness's bound.
void check_serving(const Server& s);
// TIME on an existing connection is answered OK.
void check_alive(Client& c);

// The server's thread count with no client, measured after one client came
// and went: runtimes may start helper threads with the first thread (TSan
// does), and those must not count as leaks.
long thread_baseline(const Server& s);

// Non-blocking connect with a bound; the fd (blocking again) or -1.
int connect_raw(const std::string& host, std::uint16_t port, Ms bound);
// SO_LINGER {1, 0}: the next close() of fd sends RST instead of FIN.
void arm_rst(int fd);
void close_with_rst(int fd);

// Waits until `who` is no longer in the observer's LIST, PINGing the
// observer meanwhile so that it outlives a short idle timeout.  Returns the
// seconds waited, or nullopt if it is still listed after `bound`.
std::optional<double> wait_unlisted(Client& observer, std::uint32_t who, Ms bound);
bool listed(Client& observer, std::uint32_t who);
// Sleeps for `total`, PINGing `c` every 500 ms so that it outlives a short
// idle timeout.
void sleep_pinging(Client& c, Ms total);

// After `who` stopped talking at t0 (frozen, network gone): it must leave
// the observer's LIST within the idle timeout + 1 s (plus slack for slow
// builds; the measured time is reported as `what`), and the SEND with
// request id `send_req` the observer made to it must end NOT_DELIVERED.
void expect_vanished(Client& observer, std::uint32_t who, std::uint32_t send_req, Clock::time_point t0,
                     int idle_s, const char* what);

// A helper process (fault-peer, named by $FAULT_PEER) with its stdout on a
// pipe.  The destructor SIGKILLs and reaps it if it is still there.
class Peer {
 public:
  explicit Peer(std::vector<std::string> argv);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  pid_t pid() const { return pid_; }
  // The next line of its stdout (without the newline); throws at the bound.
  std::string read_line(Ms bound = itest::kWait);
  // Reads "id N" and returns N.
  std::uint32_t read_id(Ms bound = itest::kWait);
  void signal(int sig) const;
  // SIGKILL and reap.
  void kill_and_reap();

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

std::string fault_peer_path();
std::vector<std::string> peer_argv(const std::string& mode, const Server& s);

}  // namespace sc::ftest
