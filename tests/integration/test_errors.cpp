// Integration: protocol violations, TOO_LARGE, server full, SIGTERM/SIGINT.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <string>
#include <thread>

#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

// Sends `bytes` and expects ERROR `status`, then the server closing.
void expect_fatal(Client& c, const Bytes& bytes, Status status) {
  c.send_raw(view(bytes));
  check_error_indication(c.indication(Type::Error), status);
  CHECK(c.wait_closed());
  CHECK(c.backlog().empty());  // ERROR is the last frame
}

Bytes bad_magic_frame() {
  Bytes b = raw_frame(1, 1, 1, {});
  b[0] = 'X';
  return b;
}

}  // namespace

TEST_CASE("TOO_LARGE: response with the request's id and type, payload skipped, connection usable") {
  Server s{"--max-payload", "1024"};
  Client c(s);
  REQUIRE(c.hello().max_payload == 1024);

  SUBCASE("just over the limit, then a request in the same write") {
    Bytes out;
    const std::uint32_t big = c.add_request(out, Type::Ping, view(Bytes(1025, 'p')));
    const std::uint32_t time = c.add_request(out, Type::Time);
    c.send_raw(view(out));
    const OwnedFrame r = c.response(big);
    check_error(r, Type::Ping, Status::TooLarge);
    check_ok(c.response(time), Type::Time);
    // Responses in request order.
    CHECK(r.id() < time);
  }
  SUBCASE("a SEND of 8 MiB") {
    const std::uint32_t big = c.request(Type::Send, view(send_payload(c.id(), std::string(8 << 20, 'z'))));
    check_error(c.response(big, Ms(20000)), Type::Send, Status::TooLarge);
    check_ok(c.call(Type::Time), Type::Time);
    CHECK_FALSE(c.try_indication(Type::Message, kQuiet).has_value());
  }
  SUBCASE("the skipped payload trickles in over several writes") {
    Bytes out;
    const std::uint32_t big = c.add_request(out, Type::Ping, view(Bytes(5000, 'q')));
    for (std::size_t at = 0; at < out.size(); at += 700) {
      const std::size_t n = std::min<std::size_t>(700, out.size() - at);
      c.send_raw(ByteView(out.data() + at, n));
      std::this_thread::sleep_for(Ms(20));
    }
    check_error(c.response(big), Type::Ping, Status::TooLarge);
    const OwnedFrame echo = c.call(Type::Ping, view(text_payload("still here")));
    check_ok(echo, Type::Ping);
    CHECK(echo.text() == "still here");
  }
}

TEST_CASE("bad magic: ERROR BAD_FRAME, then close") {
  Server s;
  SUBCASE("whole header") {
    Client c(s);
    expect_fatal(c, bad_magic_frame(), Status::BadFrame);
  }
  SUBCASE("second magic byte wrong") {
    Client c(s);
    Bytes b = raw_frame(1, 1, 1, {});
    b[1] = 'D';
    expect_fatal(c, b, Status::BadFrame);
  }
  SUBCASE("a single bad byte is enough: the server does not wait for a header") {
    Client c(s);
    expect_fatal(c, Bytes{'G'}, Status::BadFrame);
  }
  SUBCASE("after a good request, which is still answered") {
    Client c(s);
    Bytes out;
    const std::uint32_t id = c.add_request(out, Type::Time);
    const Bytes bad = bad_magic_frame();
    out.insert(out.end(), bad.begin(), bad.end());
    c.send_raw(view(out));
    check_ok(c.response(id), Type::Time);
    check_error_indication(c.indication(Type::Error), Status::BadFrame);
    CHECK(c.wait_closed());
  }
  // The server is fine afterwards.
  Client d(s);
  check_ok(d.call(Type::Time), Type::Time);
}

TEST_CASE("bad version: ERROR UNSUPPORTED_VERSION, then close") {
  Server s;
  for (const std::uint8_t v : {0, 2, 255}) {
    INFO("version ", int(v));
    Client c(s);
    expect_fatal(c, raw_frame(1, 1, 1, {}, v), Status::UnsupportedVersion);
  }
}

TEST_CASE("bad kind: ERROR BAD_FRAME, then close") {
  Server s;
  for (const std::uint8_t kind : {0, 2, 3, 4, 255}) {
    INFO("kind ", int(kind));
    Client c(s);
    expect_fatal(c, raw_frame(kind, 1, 1, {}), Status::BadFrame);
  }
}

TEST_CASE("presence: LEFT with reason PROTOCOL_ERROR") {
  Server s;
  Client watcher(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  Client c(s);
  presence_of(watcher, PresenceEvent::Joined, c.id());
  expect_fatal(c, raw_frame(1, 1, 1, {}, 9), Status::UnsupportedVersion);
  CHECK(presence_of(watcher, PresenceEvent::Left, c.id()).reason == LeaveReason::ProtocolError);
}

TEST_CASE("server full: ERROR SERVER_FULL, then close; room again after one leaves") {
  Server s{"--max-clients", "2"};
  Client a(s), b(s);
  {
    Client c(s, ClientOptions{0, false});
    const auto f = c.next_frame(kWait);
    REQUIRE(f.has_value());
    check_error_indication(*f, Status::ServerFull);
    CHECK(c.wait_closed());
  }
  check_ok(a.call(Type::Time), Type::Time);
  check_ok(b.call(Type::Bye), Type::Bye);
  CHECK(b.wait_closed());
  // The server may take a moment to forget b.
  const auto t0 = Clock::now();
  for (;;) {
    Client d(s, ClientOptions{0, false});
    const auto f = d.next_frame(kWait);
    REQUIRE(f.has_value());
    if (f->type() == Type::Hello) {
      check_ok(d.call(Type::Time), Type::Time);
      break;
    }
    check_error_indication(*f, Status::ServerFull);
    REQUIRE(seconds_since(t0) < 5);
    std::this_thread::sleep_for(Ms(50));
  }
}

namespace {

void check_shutdown(int sig) {
  Server s;
  Client watcher(s), idle(s), mid(s), sender(s), target(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  // One client stopped mid-frame, one SEND waiting for an ACK.
  mid.send_raw(ByteView(raw_frame(1, 1, 7, {}).data(), 9));
  sender.request(Type::Send, view(send_payload(target.id(), "pending")));
  target.indication(Type::Message);
  check_ok(watcher.call(Type::Time), Type::Time);

  const auto t0 = Clock::now();
  s.signal(sig);
  for (Client* c : {&watcher, &idle, &mid, &sender, &target}) {
    const OwnedFrame f = c->indication(Type::Shutdown);
    CHECK(f.id() == 0);
    CHECK(valid_utf8(f.text()));
    CHECK(c->wait_closed());
  }
  // Whoever hears of others leaving first hears reason SERVER_SHUTDOWN (not
  // asserted that it does: the order of the goodbyes is the server's choice).
  int left = 0;
  while (auto f = watcher.try_indication(Type::Presence, Ms(0))) {
    const Presence p = as_presence(*f);
    if (p.event != PresenceEvent::Left) continue;
    CHECK(p.reason == LeaveReason::ServerShutdown);
    ++left;
  }
  MESSAGE("watcher heard ", left, " LEFT SERVER_SHUTDOWN");
  const auto st = s.wait_exit(Ms(5000));
  const double took = seconds_since(t0);
  REQUIRE(st.has_value());
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
  MESSAGE("shutdown took ", took, " s");
  CHECK(took < 2.5);
}

}  // namespace

TEST_CASE("SIGTERM: every client gets SHUTDOWN, then EOF; exit 0 within 2 s") {
  check_shutdown(SIGTERM);
}

TEST_CASE("SIGINT: every client gets SHUTDOWN, then EOF; exit 0 within 2 s") {
  check_shutdown(SIGINT);
}

TEST_CASE("shutdown with a client that stopped reading and has a backlog") {
  Server s;
  Client slow(s, ClientOptions{4096, true});
  Bytes out;
  for (int i = 0; i < 10; ++i) slow.add_request(out, Type::Ping, view(Bytes(60000, 'b')));
  slow.send_raw(view(out));
  Client other(s);
  check_ok(other.call(Type::Time), Type::Time);
  const auto t0 = Clock::now();
  s.signal(SIGTERM);
  other.indication(Type::Shutdown);
  CHECK(other.wait_closed());
  const auto st = s.wait_exit(Ms(5000));
  REQUIRE(st.has_value());
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
  CHECK(seconds_since(t0) < 2.5);
}

TEST_CASE("shutdown with no clients") {
  Server s;
  const auto t0 = Clock::now();
  s.signal(SIGTERM);
  const auto st = s.wait_exit(Ms(5000));
  REQUIRE(st.has_value());
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
  CHECK(seconds_since(t0) < 2.5);
}
