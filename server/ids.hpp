// A cluster node's id counters (sockchatd(8) CLUSTER, "Ids"): the low 24
// bits of its client and message ids.  Pure: atomics only, no I/O; the
// cluster keeps the reservation in Redis (server/cluster.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

namespace sc::server {

// The largest low-24-bit counter value.  The counter runs 1..kIdTop and
// then starts again at 1: 0 is never a counter value, so that no id of a
// node is node << 24 alone (and none is 0, which the protocol never uses).
constexpr std::uint32_t kIdTop = 0xffffff;

// `at` (1..kIdTop) moved on by `n` values, past kIdTop back to 1.
constexpr std::uint32_t id_advance(std::uint32_t at, std::uint32_t n) {
  return static_cast<std::uint32_t>((std::uint64_t{at} - 1 + n) % kIdTop + 1);
}

// How many values `from` must move on to reach `to` (both 1..kIdTop).
constexpr std::uint32_t id_distance(std::uint32_t from, std::uint32_t to) {
  return static_cast<std::uint32_t>((std::uint64_t{to} + kIdTop - from) % kIdTop);
}

// Whether a value read from Redis can be a counter value; anything else
// (absent, damaged) is treated as "start at 1".
constexpr bool is_counter_value(long long v) { return v >= 1 && v <= kIdTop; }

// One counter, taken from by any thread.  Redis holds a reservation one
// `block` beyond what the node has handed out; the cluster thread moves it
// (mark() after each write).  take() never waits for Redis: once half a
// block has been taken since the last mark(), it calls `on_half` (once per
// mark) so that the cluster thread moves the reservation before the tick.
class IdCounter {
 public:
  IdCounter(std::uint32_t block, std::function<void()> on_half)
      : block_(block), on_half_(std::move(on_half)) {}

  // Before any other thread uses the counter: the first value to hand out,
  // which the reservation in Redis already covers.
  void start(std::uint32_t first) {
    next_.store(first, std::memory_order_relaxed);
    mark_.store(first, std::memory_order_relaxed);
  }

  std::uint32_t take() {
    std::uint32_t v = next_.load(std::memory_order_relaxed);
    while (!next_.compare_exchange_weak(v, id_advance(v, 1), std::memory_order_relaxed)) {
    }
    const std::uint32_t taken = id_distance(mark_.load(std::memory_order_relaxed), v) + 1;
    if (taken >= block_ / 2 && !asked_.exchange(true, std::memory_order_relaxed) && on_half_) {
      on_half_();
    }
    return v;
  }

  // What take() hands out next: the reservation must lie beyond it.
  std::uint32_t next() const { return next_.load(std::memory_order_relaxed); }
  // The value to write to Redis when next() was `at`.
  std::uint32_t reserve_from(std::uint32_t at) const { return id_advance(at, block_); }
  // The reservation written covers a block from `at` (an earlier next()).
  void mark(std::uint32_t at) {
    mark_.store(at, std::memory_order_relaxed);
    asked_.store(false, std::memory_order_relaxed);
  }

 private:
  const std::uint32_t block_;
  const std::function<void()> on_half_;
  std::atomic<std::uint32_t> next_{1};
  std::atomic<std::uint32_t> mark_{1};
  std::atomic<bool> asked_{false};  // on_half_ called since the last mark()
};

}  // namespace sc::server
