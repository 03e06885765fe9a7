// Unit tests of sockchatd's per-address admission (server/address_limits.*):
// the cap per IPv4 address and per IPv6 /64, the connect-rate bucket
// (N per second, burst 2N) on a fake clock, and 0 lifting each limit.  The
// same limits seen from a client, over loopback, are in
// tests/faults/test_abuse.cpp; loopback has no second IPv6 /64 to try, so
// the /64 grouping is checked here.
#include <arpa/inet.h>

#include <chrono>
#include <string>

#include <doctest/doctest.h>

#include "server/address_limits.hpp"

using sc::Addr;
using sc::server::AddressLimits;
using Verdict = AddressLimits::Verdict;
using namespace std::chrono_literals;

namespace {

Addr v4(const char* text) {
  Addr a;
  a.family = 4;
  REQUIRE(inet_pton(AF_INET, text, a.bytes.data()) == 1);
  return a;
}

Addr v6(const char* text) {
  Addr a;
  a.family = 6;
  REQUIRE(inet_pton(AF_INET6, text, a.bytes.data()) == 1);
  return a;
}

const AddressLimits::Clock::time_point t0{};

}  // namespace

TEST_CASE("per-address cap: the N+1st from one IPv4 address is refused, others are not; a leave frees a place") {
  AddressLimits limits(3, 0);
  for (int i = 0; i < 3; ++i) CHECK(limits.arrive(v4("192.0.2.1"), t0) == Verdict::Admit);
  CHECK(limits.arrive(v4("192.0.2.1"), t0) == Verdict::TooMany);
  CHECK(limits.arrive(v4("192.0.2.2"), t0) == Verdict::Admit);
  limits.leave(v4("192.0.2.1"));
  CHECK(limits.arrive(v4("192.0.2.1"), t0) == Verdict::Admit);
  CHECK(limits.arrive(v4("192.0.2.1"), t0) == Verdict::TooMany);
}

TEST_CASE("IPv6 counts per /64: hosts of one /64 share the cap, the next /64 does not") {
  AddressLimits limits(2, 0);
  CHECK(limits.arrive(v6("2001:db8:1:2::1"), t0) == Verdict::Admit);
  CHECK(limits.arrive(v6("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0) == Verdict::Admit);
  CHECK(limits.arrive(v6("2001:db8:1:2:abcd::7"), t0) == Verdict::TooMany);
  CHECK(limits.arrive(v6("2001:db8:1:3::1"), t0) == Verdict::Admit);
  // An IPv4 address whose bytes equal the /64's first ones is another key.
  CHECK(limits.arrive(v4("32.1.13.184"), t0) == Verdict::Admit);
  CHECK(AddressLimits::describe(v6("2001:db8:1:2:abcd::7")) == "2001:db8:1:2::/64");
  CHECK(AddressLimits::describe(v4("192.0.2.1")) == "192.0.2.1");
}

TEST_CASE("connect rate: a burst of 2N, then N per second; refused attempts take tokens too") {
  AddressLimits limits(0, 5);  // 5 per second, burst 10
  const Addr a = v4("198.51.100.9");
  for (int i = 0; i < 10; ++i) CHECK(limits.arrive(a, t0) == Verdict::Admit);
  CHECK(limits.arrive(a, t0) == Verdict::TooFast);
  CHECK(limits.arrive(v4("198.51.100.10"), t0) == Verdict::Admit);  // another address
  // 0.2 s later one token is back; hammering meanwhile keeps it away.
  CHECK(limits.arrive(a, t0 + 100ms) == Verdict::TooFast);
  CHECK(limits.arrive(a, t0 + 300ms) == Verdict::Admit);
  CHECK(limits.arrive(a, t0 + 300ms) == Verdict::TooFast);
  // A quiet 2 s refills the whole burst.
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += limits.arrive(a, t0 + 2500ms) == Verdict::Admit;
  CHECK(admitted == 10);
}

TEST_CASE("both limits at 0: everything is admitted and nothing is tracked") {
  AddressLimits limits(0, 0);
  for (int i = 0; i < 1000; ++i) CHECK(limits.arrive(v4("203.0.113.1"), t0) == Verdict::Admit);
  CHECK(limits.tracked() == 0);
}

TEST_CASE("prune forgets only addresses with nothing open and a full bucket") {
  AddressLimits limits(4, 1);  // 1 per second, burst 2
  CHECK(limits.arrive(v4("203.0.113.1"), t0) == Verdict::Admit);
  CHECK(limits.arrive(v4("203.0.113.2"), t0) == Verdict::Admit);
  limits.leave(v4("203.0.113.2"));
  CHECK(limits.tracked() == 2);
  limits.prune(t0 + 500ms);  // .2's bucket is not full yet
  CHECK(limits.tracked() == 2);
  limits.prune(t0 + 5s);  // .1 still has a connection open
  CHECK(limits.tracked() == 1);
  limits.leave(v4("203.0.113.1"));
  limits.prune(t0 + 5s);
  CHECK(limits.tracked() == 0);
}
