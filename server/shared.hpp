// State shared by the main thread and every connection thread.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/accounts.hpp"
#include "server/delivery.hpp"
#include "server/options.hpp"
#include "server/registry.hpp"

namespace sc::server {

class Connection;
class Cluster;

// Wall-clock time in microseconds since the epoch, as the protocol wants it.
inline std::int64_t realtime_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

// An ERROR indication: `status` says why, `text` in plain words.  The
// server closes the connection after it.
inline void put_error_indication(Bytes& out, Status status, std::string_view text) {
  const std::size_t at = begin_frame(out, Kind::Indication, static_cast<std::uint8_t>(Type::Error),
                                     static_cast<std::uint8_t>(status), 0);
  put_text(out, text);
  end_frame(out, at);
}

// Finished connection threads hand themselves to the main thread, which
// joins them: no thread is ever detached.
class Reaper {
 public:
  explicit Reaper(int wake_fd) : wake_fd_(wake_fd) {}
  int wake_fd() const { return wake_fd_; }
  // Connection thread, as its very last action.
  void hand_over(Connection* c);
  // Main thread.
  std::vector<Connection*> collect();

 private:
  const int wake_fd_;
  std::mutex mu_;
  std::vector<Connection*> done_;
};

struct Shared {
  Shared(const Options& o, int reaper_wake_fd, std::shared_ptr<Accounts> a)
      : opts(o), accounts(std::move(a)), reaper(reaper_wake_fd) {}

  const Options& opts;
  // Null without --accounts.
  const std::shared_ptr<Accounts> accounts;
  // Password checks at once: one per core, at least two.
  CryptGate crypt_gate{std::max(2u, std::thread::hardware_concurrency())};
  Registry registry;
  Deliveries deliveries;
  Reaper reaper;
  // Clients accepted and not yet gone: the --max-clients check.
  std::atomic<std::uint32_t> clients{0};
  // Null without --cluster; set before the first connection thread.
  Cluster* cluster = nullptr;
};

}  // namespace sc::server
