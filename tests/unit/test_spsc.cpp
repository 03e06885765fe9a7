// sc::SpscQueue: object lifetimes, full/empty edges, wrap-around, and a
// two-thread checksum (rigtorp/SPSCQueue's test style).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/spsc_queue.hpp"

namespace sc::test {
namespace {

// Counts constructions and destructions, and catches use or destruction of
// an object that is not alive.
struct Counted {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  static inline int bad = 0;  // destructor of a dead object, or a dead read
  static constexpr std::uint32_t kAlive = 0xA11CE;

  int value;
  std::uint32_t alive = kAlive;

  explicit Counted(int v) : value(v) { ++constructed; }
  Counted(const Counted& o) : value(o.get()) { ++constructed; }
  Counted(Counted&& o) noexcept : value(o.get()) { ++constructed; }
  Counted& operator=(const Counted&) = delete;
  ~Counted() {
    if (alive != kAlive) ++bad;
    alive = 0;
    ++destroyed;
  }
  int get() const {
    if (alive != kAlive) ++bad;
    return value;
  }

  static void reset() { constructed = destroyed = bad = 0; }
  static int live() { return constructed - destroyed; }
};

}  // namespace

TEST_CASE("capacity, full and empty edges") {
  SpscQueue<int> q(4);
  CHECK(q.capacity() == 4);
  CHECK(q.empty());
  CHECK(q.size() == 0);
  CHECK(q.front() == nullptr);
  for (int i = 0; i < 4; ++i) CHECK(q.try_push(int{i}));
  CHECK(q.size() == 4);
  CHECK_FALSE(q.try_push(99));
  CHECK_FALSE(q.try_emplace(99));
  CHECK(q.size() == 4);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(q.front() != nullptr);
    CHECK(*q.front() == i);
    q.pop();
  }
  CHECK(q.empty());
  CHECK(q.front() == nullptr);
  CHECK(q.try_push(5));  // usable again after draining
  CHECK(q.size() == 1);
}

TEST_CASE("capacity 0 still holds one element") {
  SpscQueue<int> q(0);
  CHECK(q.capacity() == 1);
  CHECK(q.try_push(1));
  CHECK_FALSE(q.try_push(2));
}

TEST_CASE("wrap-around keeps FIFO order and size") {
  SpscQueue<int> q(3);
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; ++round) {
    const int burst = 1 + round % 2;  // with up to one left over: at most full
    for (int i = 0; i < burst; ++i) REQUIRE(q.try_push(int{next_in++}));
    CHECK(q.size() == static_cast<std::size_t>(next_in - next_out));
    const std::size_t keep = round % 3 == 0 ? 1 : 0;  // sometimes leave one behind
    while (q.size() > keep) {
      REQUIRE(q.front() != nullptr);
      CHECK(*q.front() == next_out++);
      q.pop();
    }
  }
  CHECK(next_in > 50);
}

TEST_CASE("every element is constructed once and destroyed once") {
  Counted::reset();
  {
    SpscQueue<Counted> q(8);
    for (int i = 0; i < 8; ++i) REQUIRE(q.try_emplace(i));
    CHECK(Counted::constructed == 8);  // emplaced in place: no temporaries
    CHECK_FALSE(q.try_emplace(100));
    CHECK(Counted::constructed == 8);  // a refused emplace constructs nothing
    for (int i = 0; i < 5; ++i) {
      CHECK(q.front()->get() == i);
      q.pop();
    }
    CHECK(Counted::live() == 3);
    for (int i = 0; i < 4; ++i) REQUIRE(q.try_push(Counted(100 + i)));  // wraps
    CHECK(Counted::live() == 7);
  }
  // The 7 left in the queue were destroyed by its destructor, once each.
  CHECK(Counted::live() == 0);
  CHECK(Counted::bad == 0);
}

TEST_CASE("move-only elements") {
  SpscQueue<std::unique_ptr<int>> q(2);
  CHECK(q.try_push(std::make_unique<int>(7)));
  CHECK(q.try_emplace(new int(8)));
  auto taken = std::move(*q.front());
  q.pop();
  CHECK(*taken == 7);
  CHECK(**q.front() == 8);
}  // the remaining unique_ptr is freed by the queue (ASan would report a leak)

// Runs `produce(i)` for i in [0, n) on a producer thread (retrying while the
// queue is full) and `consume(item, i)` on this thread for each item popped.
// Gives up after 60 s so a bug cannot hang the suite; returns the count
// consumed.
template <class T, class Make, class Check>
std::uint64_t run_two_threads(SpscQueue<T>& q, std::uint64_t n, Make produce, Check consume) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::atomic<bool> give_up{false};
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < n && !give_up.load(std::memory_order_relaxed);) {
      if (q.try_push(produce(i))) ++i;
      else std::this_thread::yield();
    }
  });
  std::uint64_t count = 0;
  for (std::uint64_t spins = 0; count < n; ++spins) {
    if (T* item = q.front()) {
      consume(*item, count++);
      q.pop();
    } else {
      if (spins % 1024 == 0 && std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::yield();
    }
  }
  give_up.store(true);
  producer.join();
  return count;
}

TEST_CASE("two threads: every item arrives once, in order (checksum)") {
  // A few million items (TSan builds are ~10x slower: still well inside the
  // time bound).
  constexpr std::uint64_t kItems = 2'000'000;
  SpscQueue<std::uint64_t> q(1024);
  std::uint64_t sum = 0, out_of_order = 0;
  const std::uint64_t count = run_two_threads(
      q, kItems, [](std::uint64_t i) { return i + 1; },
      [&](std::uint64_t v, std::uint64_t i) {
        out_of_order += v != i + 1;
        sum += v;
      });
  CHECK(count == kItems);
  CHECK(out_of_order == 0);
  CHECK(sum == kItems * (kItems + 1) / 2);
  CHECK(q.empty());
}

TEST_CASE("two threads with heap-owning elements: no leak, no double free") {
  constexpr std::uint64_t kItems = 100'000;
  // Long enough to live on the heap, not in the small-string buffer.
  auto make = [](std::uint64_t i) { return std::to_string(i) + std::string(40, '.'); };
  SpscQueue<std::string> q(64);
  std::uint64_t wrong = 0;
  const std::uint64_t count = run_two_threads(
      q, kItems, make, [&](const std::string& s, std::uint64_t i) { wrong += s != make(i); });
  CHECK(count == kItems);
  CHECK(wrong == 0);
}

}  // namespace sc::test
