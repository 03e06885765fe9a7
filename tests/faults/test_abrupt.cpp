// Faults: clients that end abruptly -- SIGKILLed mid-frame, RST, half-close
// mid-frame.  Each one must leave (LEFT CLOSED for subscribers, gone from
// LIST), its thread must be joined, and everyone else keeps being served.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <csignal>

#include "checks.hpp"
#include "fault.hpp"
#include "proc.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

constexpr Ms kReap{5000};

// A subscribed observer, and the server's thread count with it connected.
struct Scene {
  Server server;
  Client observer;
  long baseline;

  Scene() : server{}, observer(server), baseline(0) {
    check_ok(observer.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
    baseline = proc_threads(server.pid()).value();
  }

  // `who` left with reason CLOSED, is unlisted, its thread is gone, and the
  // server serves the observer and a newcomer.
  void check_left_cleanly(std::uint32_t who) {
    const Presence left = presence_of(observer, PresenceEvent::Left, who);
    CHECK(left.reason == LeaveReason::Closed);
    CHECK_FALSE(listed(observer, who));
    const long threads = wait_threads_at_most(server.pid(), baseline, kReap);
    INFO("threads now ", threads, ", baseline ", baseline);
    CHECK(threads <= baseline);
    check_alive(observer);
    check_serving(server);
  }
};

Bytes half_ping() {
  const Bytes payload(10, 'x');
  Bytes f = raw_frame(1, static_cast<std::uint8_t>(Type::Ping), 9, view(payload));
  f.resize(kHeaderSize + 3);
  return f;
}

}  // namespace

TEST_CASE("a client process SIGKILLed in the middle of a frame") {
  Scene sc;
  Peer peer(peer_argv("half", sc.server));
  const std::uint32_t id = peer.read_id();
  CHECK(peer.read_line() == "sent half");
  CHECK(listed(sc.observer, id));
  peer.kill_and_reap();
  sc.check_left_cleanly(id);
}

TEST_CASE("a peer that resets the connection (SO_LINGER {1,0}, close) mid-frame") {
  Scene sc;
  Client c(sc.server);
  const std::uint32_t id = c.id();
  c.send_raw(view(half_ping()));
  arm_rst(c.fd());
  c.close();
  sc.check_left_cleanly(id);
}

TEST_CASE("a client that half-closes mid-frame: complete requests answered, then EOF") {
  Scene sc;
  Client c(sc.server);
  const std::uint32_t id = c.id();
  Bytes out;
  const std::uint32_t time_id = c.add_request(out, Type::Time);
  const Bytes half = half_ping();
  out.insert(out.end(), half.begin(), half.end());
  c.send_raw(view(out));
  REQUIRE(shutdown(c.fd(), SHUT_WR) == 0);
  check_ok(c.response(time_id), Type::Time);
  CHECK(c.wait_closed());
  sc.check_left_cleanly(id);
}
