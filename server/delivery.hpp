// Messages sent and not yet settled.  A pending entry is settled exactly
// once, by whichever thread removes it from the table first: the target's
// thread on its ACK (OK to the sender), the sender's thread when the
// delivery timeout passes (NOT_DELIVERED), or the target's thread when the
// target leaves (NOT_DELIVERED).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "server/ids.hpp"

namespace sc::server {

using Clock = std::chrono::steady_clock;

struct Pending {
  std::uint32_t message_id = 0;
  std::uint32_t sender = 0;
  std::uint32_t sender_request = 0;  // the SEND's request id, for the response
  std::uint32_t target = 0;
  Clock::time_point deadline;
  std::uint32_t bytes = 0;  // the MESSAGE frame's size, for the unacked cap
};

class Deliveries {
 public:
  // Message ids start at 1 and, on one server (a 32-bit counter), are
  // never reused within one run.  In a
  // cluster (set_node, before any other thread starts) the node id is the
  // high 8 bits and the cluster's counter the low 24: unique across the
  // cluster without asking anyone, starting where the node's previous run
  // left off (sockchatd(8) CLUSTER), and wrapping after 16,777,215 messages
  // (skipping 0), long after the old ids were settled.  The counter is the
  // Cluster's, because its thread keeps the reservation in Redis ahead of it.
  void set_node(std::uint8_t node, IdCounter& counter) {
    node_ = node;
    counter_ = &counter;
  }
  std::uint32_t next_message_id() {
    if (counter_ == nullptr) return next_id_.fetch_add(1, std::memory_order_relaxed);
    return (std::uint32_t{node_} << 24) | counter_->take();
  }

  // Records p unless the target's unacknowledged MESSAGE bytes (all senders
  // together) would pass `cap`: flow control per recipient, so that nobody
  // can fill a slow reader's queue with messages it never asked for.
  // Returns the target's unacked bytes before p when it did not fit.
  std::optional<std::uint64_t> add_within(const Pending& p, std::uint64_t cap);
  // Removes the entry if it is still pending: the caller settles it.
  std::optional<Pending> take(std::uint32_t message_id);
  // Removes the entry only when it is addressed to `target` (an ACK).
  std::optional<Pending> take_for_target(std::uint32_t message_id, std::uint32_t target);
  bool is_pending(std::uint32_t message_id) const;
  // A client leaves: removes every entry it sent (dropped silently: nobody is
  // left to answer) and returns the entries addressed to it by others, for
  // the caller to answer NOT_DELIVERED.
  std::vector<Pending> take_all_for(std::uint32_t client);

 private:
  std::atomic<std::uint32_t> next_id_{1};
  std::uint8_t node_ = 0;
  IdCounter* counter_ = nullptr;  // with --cluster
  mutable std::mutex mu_;
  void forget_locked(std::unordered_map<std::uint32_t, Pending>::iterator it);

  std::unordered_map<std::uint32_t, Pending> pending_;
  std::unordered_map<std::uint32_t, std::uint64_t> unacked_;  // target -> bytes
};

}  // namespace sc::server
