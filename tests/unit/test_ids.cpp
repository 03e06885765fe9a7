// Unit tests of a cluster node's id counters (server/ids.hpp): the wrap
// within 1..0xffffff, the half-block wake-up, and message ids drawn from
// the counter by Deliveries.  The Redis side is in
// tests/integration/cluster_test.py.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "server/delivery.hpp"
#include "server/ids.hpp"

using sc::server::id_advance;
using sc::server::id_distance;
using sc::server::IdCounter;
using sc::server::kIdTop;

TEST_CASE("id_advance wraps within 1..0xffffff and never gives 0") {
  CHECK(id_advance(1, 1) == 2);
  CHECK(id_advance(kIdTop - 1, 1) == kIdTop);
  CHECK(id_advance(kIdTop, 1) == 1);
  CHECK(id_advance(kIdTop - 1, 2) == 1);
  CHECK(id_advance(kIdTop - 10, 4096) == 4086);
  CHECK(id_advance(12345, kIdTop) == 12345);  // a whole round
  CHECK(id_advance(7, 0) == 7);
  for (std::uint32_t at : {1u, 2u, kIdTop - 1, kIdTop}) {
    for (std::uint32_t n : {0u, 1u, 4096u, 1u << 18, kIdTop - 1}) {
      const std::uint32_t v = id_advance(at, n);
      CHECK(v >= 1);
      CHECK(v <= kIdTop);
      CHECK(id_distance(at, v) == n % kIdTop);  // the inverse
    }
  }
}

TEST_CASE("id_distance counts across the wrap") {
  CHECK(id_distance(5, 5) == 0);
  CHECK(id_distance(5, 9) == 4);
  CHECK(id_distance(kIdTop, 1) == 1);
  CHECK(id_distance(kIdTop - 1, 3) == 4);
  CHECK(id_distance(2, 1) == kIdTop - 1);
}

TEST_CASE("values read from Redis: only 1..0xffffff are counter values") {
  CHECK_FALSE(sc::server::is_counter_value(0));
  CHECK_FALSE(sc::server::is_counter_value(-1));
  CHECK_FALSE(sc::server::is_counter_value(std::int64_t{kIdTop} + 1));
  CHECK(sc::server::is_counter_value(1));
  CHECK(sc::server::is_counter_value(kIdTop));
}

TEST_CASE("IdCounter hands out from its start, wraps to 1, asks once per half block") {
  int asked = 0;
  IdCounter c(8, [&asked] { ++asked; });
  c.start(kIdTop - 1);
  CHECK(c.take() == kIdTop - 1);
  CHECK(c.take() == kIdTop);
  CHECK(c.take() == 1);
  CHECK(asked == 0);  // three taken since the mark, half a block is four
  CHECK(c.take() == 2);
  CHECK(asked == 1);
  CHECK(c.take() == 3);
  CHECK(asked == 1);  // asked already, until the reservation moves
  CHECK(c.next() == 4);
  CHECK(c.reserve_from(c.next()) == 12);
  c.mark(4);
  CHECK(c.take() == 4);
  CHECK(c.take() == 5);
  CHECK(c.take() == 6);
  CHECK(asked == 1);
  CHECK(c.take() == 7);
  CHECK(asked == 2);
}

TEST_CASE("IdCounter: two threads never get one value twice") {
  constexpr int kPerThread = 20000;
  std::atomic<int> asked{0};
  IdCounter c(1u << 18, [&asked] { asked.fetch_add(1, std::memory_order_relaxed); });
  c.start(kIdTop - kPerThread);  // the two threads wrap between them
  std::vector<std::uint32_t> got[2];
  {
    std::thread t([&] {
      for (int i = 0; i < kPerThread; ++i) got[1].push_back(c.take());
    });
    for (int i = 0; i < kPerThread; ++i) got[0].push_back(c.take());
    t.join();
  }
  std::vector<std::uint32_t> all = got[0];
  all.insert(all.end(), got[1].begin(), got[1].end());
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(all.front() == 1);  // wrapped, and 0 never came
  CHECK(all.back() == kIdTop);
  CHECK(c.next() == id_advance(kIdTop - kPerThread, 2 * kPerThread));
  CHECK(asked.load() == 0);  // 40000 is less than half of 2^18
}

TEST_CASE("Deliveries in a cluster: the node in the high byte, the counter in the low 24") {
  sc::server::Deliveries single;
  CHECK(single.next_message_id() == 1);
  CHECK(single.next_message_id() == 2);

  IdCounter counter(1u << 18, {});
  counter.start(kIdTop);
  sc::server::Deliveries d;
  d.set_node(7, counter);
  CHECK(d.next_message_id() == 0x07ffffffu);
  CHECK(d.next_message_id() == 0x07000001u);
  CHECK(counter.next() == 2);
}
