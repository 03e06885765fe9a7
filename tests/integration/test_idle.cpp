// Integration: the idle timeout (--heartbeat 1 --idle-timeout 2).  Silence,
// a stalled partial frame and a byte-at-a-time trickle are all "no complete
// frame"; PINGs keep a client alive.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

constexpr double kIdle = 2.0;

Server idle_server() { return Server{"--heartbeat", "1", "--idle-timeout", "2"}; }

// Polls `done` every few ms, PINGing each of `alive` every 400 ms so that
// they outlive the idle timeout; false if `done` is still false after `bound`.
bool wait_pinging(const std::vector<Client*>& alive, const std::function<bool()>& done, Ms bound) {
  const auto t0 = Clock::now();
  auto last_ping = Clock::now() - Ms(1000);
  while (seconds_since(t0) < std::chrono::duration<double>(bound).count()) {
    if (Clock::now() - last_ping >= Ms(400)) {
      for (Client* c : alive) c->request(Type::Ping);
      last_ping = Clock::now();
    }
    if (done()) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return false;
}

// Expects ERROR IDLE_TIMEOUT and the close, in about kIdle seconds from t0,
// while keeping the clients in `alive` alive.
void expect_idle_close(Client& c, Clock::time_point t0, const std::vector<Client*>& alive = {}) {
  std::optional<OwnedFrame> err;
  const auto got_error = [&] { return (err = c.try_indication(Type::Error, Ms(0))).has_value() || c.eof(); };
  wait_pinging(alive, got_error, Ms(8000));
  const double took = seconds_since(t0);
  REQUIRE(err.has_value());
  check_error_indication(*err, Status::IdleTimeout);
  CHECK(c.wait_closed());
  INFO("closed after ", took, " s");
  CHECK(took >= kIdle - 0.3);
  CHECK(took < kIdle + 4.0);
}

}  // namespace

TEST_CASE("a silent client is closed with ERROR IDLE_TIMEOUT; LEFT IDLE_TIMEOUT") {
  Server s = idle_server();
  Client watcher(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  const auto t0 = Clock::now();
  Client silent(s);
  CHECK(silent.hello().heartbeat_s == 1);
  CHECK(silent.hello().idle_timeout_s == 2);
  const std::uint32_t id = silent.id();
  expect_idle_close(silent, t0, {&watcher});

  std::optional<Presence> left;
  CHECK(wait_pinging({&watcher},
                     [&] {
                       if (auto f = watcher.take_if(
                               [&](const OwnedFrame& f) {
                                 return f.type() == Type::Presence &&
                                        as_presence(f).event == PresenceEvent::Left &&
                                        as_presence(f).entry.id == id;
                               },
                               Ms(0)))
                         left = as_presence(*f);
                       return left.has_value();
                     },
                     Ms(5000)));
  REQUIRE(left.has_value());
  CHECK(left->reason == LeaveReason::IdleTimeout);
}

TEST_CASE("a client that stalls mid-frame is closed like a silent one") {
  Server s = idle_server();
  Client c(s);
  const auto t0 = Clock::now();
  const Bytes frame = raw_frame(1, 5, 1, view(text_payload("never finished")));
  c.send_raw(ByteView(frame.data(), 20));  // header and 4 payload bytes
  expect_idle_close(c, t0);
}

TEST_CASE("a client trickling one byte at a time, never completing a frame, is closed") {
  Server s = idle_server();
  Client c(s);
  const auto t0 = Clock::now();
  // A PING whose payload takes far longer than the idle timeout to arrive:
  // its header at once, then a byte every 250 ms.
  const Bytes frame = raw_frame(1, 5, 1, view(Bytes(1000, 't')));
  c.send_raw(ByteView(frame.data(), kHeaderSize));
  std::size_t at = kHeaderSize;
  std::optional<OwnedFrame> err;
  while (!err && seconds_since(t0) < 8 && at < frame.size()) {
    if (!c.try_send(ByteView(frame.data() + at, 1), Ms(1000))) break;  // closed
    ++at;
    err = c.try_indication(Type::Error, Ms(250));
  }
  if (!err) err = c.try_indication(Type::Error, Ms(2000));
  REQUIRE(err.has_value());
  check_error_indication(*err, Status::IdleTimeout);
  const double took = seconds_since(t0);
  INFO("closed after ", took, " s and ", at, " bytes");
  CHECK(took < kIdle + 4.0);
  CHECK(c.wait_closed());
}

TEST_CASE("complete frames keep a client alive past the idle timeout") {
  Server s = idle_server();
  Client c(s);
  const auto t0 = Clock::now();
  const auto closed = [&] { return c.try_indication(Type::Error, Ms(0)).has_value() || c.eof(); };
  CHECK_FALSE(wait_pinging({&c}, closed, Ms(5000)));
  CHECK(seconds_since(t0) > 2 * kIdle);
  CHECK_FALSE(c.try_indication(Type::Error, Ms(0)).has_value());
  check_ok(c.call(Type::Time), Type::Time);
}

TEST_CASE("a pending SEND to a client closed for idleness -> NOT_DELIVERED") {
  Server s{"--heartbeat", "1", "--idle-timeout", "2", "--delivery-timeout", "30"};
  Client a(s), b(s);
  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "wake up")));
  const OwnedFrame m = b.indication(Type::Message);
  std::optional<OwnedFrame> r;
  CHECK(wait_pinging({&a}, [&] { return (r = a.try_response(req, Ms(0))).has_value(); }, Ms(8000)));
  REQUIRE(r.has_value());
  check_error(*r, Type::Send, Status::NotDelivered);
  CHECK(as_not_delivered(*r).message_id == m.id());
  check_error_indication(b.indication(Type::Error), Status::IdleTimeout);
  CHECK(b.wait_closed());
}
