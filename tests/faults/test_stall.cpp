// Faults: connections that stall (--heartbeat 1 --idle-timeout 3): header
// bytes then silence, a partial body then silence, one byte every ~0.7 s.
// Bytes that never complete a frame are not life: each ends with ERROR
// IDLE_TIMEOUT and EOF, and none keeps its thread: the server's thread count
// returns to where it was.
#include <doctest/doctest.h>

#include <functional>
#include <thread>

#include "checks.hpp"
#include "fault.hpp"
#include "proc.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

constexpr double kIdle = 3.0;
// Generous: sanitizer builds on a busy 2-core machine.
constexpr double kSlack = 4.0;

Server stall_server() { return Server{"--heartbeat", "1", "--idle-timeout", "3"}; }

Bytes ping_frame(std::size_t payload_bytes) {
  return raw_frame(1, static_cast<std::uint8_t>(Type::Ping), 1, view(Bytes(payload_bytes, 'p')));
}

// Feeds `frame` from byte `at` one byte per `gap`, until the server says
// anything or closes, or the frame runs out (it never should).
void trickle(Client& c, const Bytes& frame, std::size_t at, Ms gap) {
  for (; at < frame.size(); ++at) {
    if (!c.try_send(ByteView(frame.data() + at, 1), Ms(1000))) return;  // closed
    // Reads into the backlog (where expect_idle_end finds the ERROR).
    c.take_if([](const OwnedFrame&) { return false; }, gap);
    if (!c.backlog().empty() || c.eof()) return;
  }
}

// Whatever was sent, the end is ERROR IDLE_TIMEOUT then EOF, within the
// idle timeout (plus slack) of the last complete frame (HELLO time, t0).
void expect_idle_end(Client& c, Clock::time_point t0) {
  std::optional<OwnedFrame> err = c.try_indication(Type::Error, Ms(static_cast<int>((kIdle + kSlack) * 1000)));
  const double took = seconds_since(t0);
  REQUIRE(err.has_value());
  check_error_indication(*err, Status::IdleTimeout);
  CHECK(c.wait_closed());
  INFO("closed after ", took, " s");
  CHECK(took >= kIdle - 0.5);
  CHECK(took <= kIdle + kSlack);
  MESSAGE("idle close after ", took, " s (idle timeout ", kIdle, " s)");
}

void check_threads_back(const Server& s, long baseline) {
  const long threads = wait_threads_at_most(s.pid(), baseline, Ms(5000));
  INFO("threads now ", threads, ", baseline ", baseline);
  CHECK(threads <= baseline);
}

// One stalling client on a fresh server: `misbehave` is all it does after
// HELLO; it must end with the idle timeout, its thread must go, and the
// server must still serve a newcomer.
void check_stall(const std::function<void(Client&)>& misbehave) {
  Server s = stall_server();
  const long baseline = thread_baseline(s);
  const auto t0 = Clock::now();
  Client c(s);
  misbehave(c);
  expect_idle_end(c, t0);
  check_threads_back(s, baseline);
  check_serving(s);
}

}  // namespace

TEST_CASE("header bytes, then silence") {
  const Bytes f = ping_frame(8);
  check_stall([&](Client& c) { c.send_raw(ByteView(f.data(), 9)); });  // 9 of 16 header bytes
}

TEST_CASE("a whole header and part of the body, then silence") {
  const Bytes f = ping_frame(100);
  check_stall([&](Client& c) { c.send_raw(ByteView(f.data(), kHeaderSize + 40)); });
}

TEST_CASE("one byte every 0.7 s never completes a frame") {
  check_stall([](Client& c) { trickle(c, ping_frame(64), 0, Ms(700)); });
}

TEST_CASE("all three at once, with a well-behaved client that stays") {
  Server s = stall_server();
  const long baseline = thread_baseline(s);
  const auto t0 = Clock::now();
  Client good(s), header(s), body(s), drip(s);
  const Bytes f = ping_frame(64);
  header.send_raw(ByteView(f.data(), 5));
  body.send_raw(ByteView(f.data(), kHeaderSize + 10));
  // The trickler and the good client's heartbeat share this thread: one
  // byte and one PING per 0.7 s turn.
  std::size_t at = 0;
  while (seconds_since(t0) < kIdle + kSlack && !drip.eof() && at < f.size()) {
    drip.try_send(ByteView(f.data() + at++, 1), Ms(1000));
    check_ok(good.call(Type::Ping), Type::Ping);
    drip.take_if([](const OwnedFrame&) { return false; }, Ms(700));
    if (!drip.backlog().empty()) break;
  }
  for (Client* c : {&header, &body, &drip}) expect_idle_end(*c, t0);
  check_alive(good);
  const long threads = wait_threads_at_most(s.pid(), baseline + 1, Ms(5000));
  INFO("threads now ", threads, ", baseline ", baseline, " + the good client");
  CHECK(threads <= baseline + 1);
}
