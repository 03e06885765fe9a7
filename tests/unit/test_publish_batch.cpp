// Unit tests of the group commit of a cluster node's publishes
// (server/publish_batch.hpp) over a fake flush: queue order on the
// "connection", each caller's own result, the batch bounds, a failed
// batch, and many threads at once (TSan runs this binary too).  The Redis
// side is in tests/integration/cluster_test.py.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "server/publish_batch.hpp"

using sc::server::Publish;
using sc::server::PublishBatcher;

namespace {

// A command's message is the 4 bytes of a number v; the fake broker
// answers v + 1000 receivers, so a caller handed another's reply shows.
sc::Bytes message_of(std::uint32_t v, std::size_t size = 4) {
  sc::Bytes b(size < 4 ? 4 : size, 0);
  b[0] = static_cast<std::uint8_t>(v >> 24);
  b[1] = static_cast<std::uint8_t>(v >> 16);
  b[2] = static_cast<std::uint8_t>(v >> 8);
  b[3] = static_cast<std::uint8_t>(v);
  return b;
}

std::uint32_t value_of(const Publish& p) {
  return (std::uint32_t{p.message[0]} << 24) | (std::uint32_t{p.message[1]} << 16) |
         (std::uint32_t{p.message[2]} << 8) | p.message[3];
}

// Polls `done` for at most 10 s (the waits here take milliseconds).
template <typename F>
bool wait_for(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The fake connection: records every batch (the values in the order they
// were "written") and answers them.  The first batch is held until
// release(), so that the test can queue commands behind it.  `fail_batch`:
// that batch (0-based) gets no replies at all, `fail_after`: from that
// index within it on.
class FakeBroker {
 public:
  int fail_batch = -1;
  std::size_t fail_after = 0;

  PublishBatcher::Flush flush() {
    return [this](std::span<Publish* const> batch) { run(batch); };
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool holding() const { return holding_.load(); }
  // Only once every caller has returned.
  const std::vector<std::vector<std::uint32_t>>& batches() const { return batches_; }
  int overlaps() const { return overlaps_.load(); }

 private:
  void run(std::span<Publish* const> batch) {
    if (in_flush_.exchange(true)) overlaps_.fetch_add(1);
    const int index = static_cast<int>(batches_.size());
    batches_.emplace_back();
    for (Publish* p : batch) {
      batches_.back().push_back(value_of(*p));
      if (index == fail_batch && batches_.back().size() > fail_after) continue;
      p->receivers = value_of(*p) + 1000;
    }
    if (index == 0) hold();
    in_flush_ = false;
  }
  void hold() {
    holding_ = true;
    std::unique_lock lock(mu_);
    // Bounded: a test that fails before release() still ends.
    cv_.wait_for(lock, std::chrono::seconds(10), [this] { return released_; });
  }

  std::vector<std::vector<std::uint32_t>> batches_;  // flush only (one at a time)
  std::atomic<bool> in_flush_{false};
  std::atomic<int> overlaps_{0};
  std::atomic<bool> holding_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

// Caller 1 leads a batch that the broker holds; callers 2.. (message
// sizes in `sizes`) queue behind it one after another, in that order; then
// the broker lets go.  Each caller's result goes to results[v - 1].
std::vector<long long> queue_behind_held_batch(PublishBatcher& batcher, FakeBroker& broker,
                                               const std::vector<std::size_t>& sizes) {
  std::vector<long long> results(sizes.size() + 1, 0);
  std::vector<sc::Bytes> messages;
  messages.push_back(message_of(1));
  for (std::size_t i = 0; i < sizes.size(); ++i) messages.push_back(message_of(static_cast<std::uint32_t>(i + 2), sizes[i]));
  std::vector<std::thread> callers;
  callers.emplace_back([&] { results[0] = batcher.publish("inbox", messages[0]); });
  CHECK(wait_for([&] { return broker.holding(); }));
  for (std::size_t i = 1; i < messages.size(); ++i) {
    callers.emplace_back([&, i] { results[i] = batcher.publish("inbox", messages[i]); });
    CHECK(wait_for([&] { return batcher.queued() == i; }));
  }
  broker.release();
  for (std::thread& t : callers) t.join();
  return results;
}

}  // namespace

TEST_CASE("PublishBatcher: one caller alone sends one command a batch and gets its reply") {
  FakeBroker broker;
  broker.release();
  PublishBatcher batcher(broker.flush(), 256, 1 << 20);
  for (std::uint32_t v = 1; v <= 3; ++v) CHECK(batcher.publish("inbox", message_of(v)) == v + 1000);
  CHECK(broker.batches() == std::vector<std::vector<std::uint32_t>>{{1}, {2}, {3}});
  CHECK(batcher.queued() == 0);
}

TEST_CASE("PublishBatcher: commands queued behind a batch in flight share the next one, in queue order") {
  FakeBroker broker;
  PublishBatcher batcher(broker.flush(), 256, 1 << 20);
  const std::vector<long long> results = queue_behind_held_batch(batcher, broker, {4, 4, 4});
  CHECK(results == std::vector<long long>{1001, 1002, 1003, 1004});
  CHECK(broker.batches() == std::vector<std::vector<std::uint32_t>>{{1}, {2, 3, 4}});
  CHECK(broker.overlaps() == 0);
}

TEST_CASE("PublishBatcher: a batch holds at most max_ops commands and max_bytes, or one bigger command") {
  FakeBroker broker;
  PublishBatcher batcher(broker.flush(), 2, 20);
  // Two commands a batch (4 bytes each); 6, of 30 bytes, alone although
  // it passes 20 bytes, and 7 not with it.
  const std::vector<long long> results = queue_behind_held_batch(batcher, broker, {4, 4, 4, 4, 30, 4});
  CHECK(results == std::vector<long long>{1001, 1002, 1003, 1004, 1005, 1006, 1007});
  CHECK(broker.batches() == std::vector<std::vector<std::uint32_t>>{{1}, {2, 3}, {4, 5}, {6}, {7}});
}

TEST_CASE("PublishBatcher: a failed batch fails each of its callers, the next batch works") {
  FakeBroker broker;
  SUBCASE("the whole batch") { broker.fail_after = 0; }
  SUBCASE("from its second command on (the link lost mid-batch)") { broker.fail_after = 1; }
  broker.fail_batch = 1;
  PublishBatcher batcher(broker.flush(), 256, 1 << 20);
  const std::vector<long long> results = queue_behind_held_batch(batcher, broker, {4, 4, 4});
  CHECK(results[0] == 1001);
  CHECK(results[1] == (broker.fail_after == 0 ? -1 : 1002));
  CHECK(results[2] == -1);
  CHECK(results[3] == -1);
  CHECK(batcher.publish("inbox", message_of(9)) == 1009);
  CHECK(broker.batches() == std::vector<std::vector<std::uint32_t>>{{1}, {2, 3, 4}, {9}});
}

TEST_CASE("PublishBatcher: many threads; each one's commands in its order, each its own reply") {
  constexpr std::uint32_t kThreads = 8, kEach = 400;
  FakeBroker broker;
  broker.release();
  PublishBatcher batcher(broker.flush(), 16, 1 << 20);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&batcher, &wrong, t] {
      for (std::uint32_t i = 0; i < kEach; ++i) {
        const std::uint32_t v = t << 16 | i;
        if (batcher.publish("inbox", message_of(v)) != v + 1000) wrong.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(wrong.load() == 0);
  CHECK(broker.overlaps() == 0);
  std::vector<std::uint32_t> next(kThreads, 0);
  std::size_t total = 0, out_of_order = 0, largest = 0;
  for (const std::vector<std::uint32_t>& batch : broker.batches()) {
    largest = std::max(largest, batch.size());
    for (std::uint32_t v : batch) {
      if ((v & 0xffff) != next[v >> 16]++) ++out_of_order;
      ++total;
    }
  }
  CHECK(total == kThreads * kEach);
  CHECK(out_of_order == 0);
  CHECK(largest <= 16);
}
