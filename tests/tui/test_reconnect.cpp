// Reconnect with a fake clock and a fake transport: the backoff sequence,
// the jitter's bounds, the cap, the reset after a greeting, the countdown,
// and the cases that must not reconnect.
#include <doctest/doctest.h>

#include <random>

#include "fake_transport.hpp"
#include "tui-client/app.hpp"

using namespace sc;
using namespace sc::tui;
using namespace sc::tui::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

struct Rig : SessionRig {
  double jitter = 0.0;

  Rig() {
    session.set_reconnect(true);
    session.set_jitter([this] { return jitter; });
    session.set_wanted_nick("alice");
  }
  // Completes the connect in progress with a HELLO; returns what was sent.
  std::vector<FakeWire::Request> greet(std::uint32_t id = 1) {
    wire->events.push_back(event(Incoming::What::Connected));
    wire->events.push_back(hello(id));
    session.on_ready();
    return wire->requests();
  }
  void lose() { deliver(event(Incoming::What::Closed, "Connection reset by peer")); }
  // Connects and greets: the connection a reconnect would restore.
  std::vector<FakeWire::Request> connected() {
    session.connect("127.0.0.1", "2555");
    return greet();
  }
  // The server says why it closes, then closes.
  void server_error(Status status) {
    deliver(frame(Kind::Indication, Type::Error, status, 0, text_payload("bye")));
    deliver(event(Incoming::What::Closed, "closed"));
  }
  // Moves the clock to the scheduled attempt, checking nothing happens a
  // millisecond earlier.
  void run_to_attempt(milliseconds delay) {
    const int before = wire->connects;
    clock.now += delay - milliseconds(1);
    session.on_tick(clock.now);
    CHECK(wire->connects == before);
    clock.now += milliseconds(1);
    session.on_tick(clock.now);
    CHECK(wire->connects == before + 1);
    CHECK(state.phase == Phase::Connecting);
  }
};

}  // namespace

TEST_CASE("reconnect: the delay doubles from 1 s and stops at 60 s") {
  const long expected_s[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
  for (int attempt = 1; attempt <= 9; ++attempt) {
    CHECK(reconnect_delay(attempt, 0.0) == seconds(expected_s[attempt - 1]));
  }
  CHECK(reconnect_delay(1000, 0.0) == seconds(60));  // no overflow however long it goes on
}

TEST_CASE("reconnect: the jitter takes at most a quarter off and never adds") {
  std::mt19937 gen(12345);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const milliseconds base = reconnect_delay(attempt, 0.0);
    for (int i = 0; i < 200; ++i) {
      const milliseconds d = reconnect_delay(attempt, dist(gen));
      CHECK(d <= base);
      CHECK(d >= base * 3 / 4);
    }
  }
  CHECK(reconnect_delay(1, 0.5) == milliseconds(875));
  CHECK(reconnect_delay(7, 0.999) >= seconds(45));
  CHECK(reconnect_delay(7, 0.999) < seconds(46));
}

TEST_CASE("reconnect: a lost connection is retried with growing delays up to the cap") {
  Rig r;
  r.connected();
  r.lose();
  CHECK(has_line(r.log, "connection lost: Connection reset by peer"));
  CHECK(r.state.phase == Phase::Disconnected);
  REQUIRE(r.state.reconnecting());
  CHECK(reconnect_status(r.state) == "reconnecting to 127.0.0.1:2555 in 1 s");
  CHECK(r.log.back().text == "reconnecting to 127.0.0.1:2555 in 1 s (attempt 1; Esc or /disconnect cancels)");
  CHECK(r.session.poll_timeout_ms(r.clock.now) == 1000);
  const long expected_s[] = {1, 2, 4, 8, 16, 32, 60, 60};
  for (long s : expected_s) {
    r.run_to_attempt(seconds(s));
    CHECK(r.wire->last_host == "127.0.0.1");
    CHECK(r.wire->last_port == "2555");
    r.deliver(event(Incoming::What::Failed, "connect to 127.0.0.1:2555: Connection refused"));
    REQUIRE(r.state.reconnecting());
  }
  CHECK(r.state.reconnect_in_s == 60);
  CHECK(has_line(r.log, "(attempt 9;"));
}

TEST_CASE("reconnect: the countdown changes once a second and the wake-ups follow it") {
  Rig r;
  r.jitter = 0.5;  // attempt 3: 4 s less an eighth, 3.5 s
  r.connected();
  r.lose();
  r.run_to_attempt(milliseconds(875));
  r.deliver(event(Incoming::What::Failed, "refused"));
  r.run_to_attempt(milliseconds(1750));
  r.deliver(event(Incoming::What::Failed, "refused"));
  CHECK(r.state.reconnect_in_s == 4);
  CHECK(r.session.poll_timeout_ms(r.clock.now) == 500);  // 3.5 s left: "3 s" in 0.5 s
  r.clock.now += milliseconds(499);
  CHECK(r.session.on_tick(r.clock.now) == kNothing);
  r.clock.now += milliseconds(1);
  CHECK((r.session.on_tick(r.clock.now) & kStatus) != 0);
  CHECK(r.state.reconnect_in_s == 3);
  CHECK(reconnect_status(r.state) == "reconnecting to 127.0.0.1:2555 in 3 s");
  CHECK(r.session.poll_timeout_ms(r.clock.now) == 1000);
}

TEST_CASE("reconnect: after a greeting the nick and the subscription are asked for again, and the backoff restarts") {
  Rig r;
  r.connected();
  r.log.add(LineKind::Incoming, "message from 9 (bob): kept");
  r.lose();
  r.run_to_attempt(seconds(1));
  r.deliver(event(Incoming::What::Failed, "refused"));
  r.run_to_attempt(seconds(2));
  const auto reqs = r.greet(5);
  CHECK(r.state.phase == Phase::Connected);
  CHECK_FALSE(r.state.reconnecting());
  REQUIRE(reqs.size() == 3);
  CHECK(type_of(reqs[0]) == Type::Nick);
  std::string nick;
  decode_text(ByteView(reqs[0].payload.data(), reqs[0].payload.size()), nick);
  CHECK(nick == "alice");
  CHECK(type_of(reqs[1]) == Type::Subscribe);
  CHECK(type_of(reqs[2]) == Type::List);
  CHECK(has_line(r.log, "message from 9 (bob): kept"));  // the scrollback survives
  r.lose();
  CHECK(r.state.reconnect_in_s == 1);  // from the start again
  CHECK(has_line(r.log, "(attempt 1;"));
}

TEST_CASE("reconnect: a server shutdown is retried, with the account signed in again") {
  Rig r;
  int reads = 0;
  r.session.set_account("alice", [&reads](const std::string&, std::string& pw, std::string&) {
    ++reads;
    pw = "secret";
    return true;
  });
  auto reqs = r.connected();
  REQUIRE(!reqs.empty());
  CHECK(type_of(reqs[0]) == Type::Auth);
  r.deliver(frame(Kind::Indication, Type::Shutdown, Status::Ok, 0, text_payload("restarting")));
  r.deliver(event(Incoming::What::Closed, "closed"));
  CHECK(has_line(r.log, "disconnected: the server shut down"));
  REQUIRE(r.state.reconnecting());
  r.run_to_attempt(seconds(1));
  reqs = r.greet();
  REQUIRE(!reqs.empty());
  CHECK(type_of(reqs[0]) == Type::Auth);
  CHECK(reads == 2);
}

TEST_CASE("reconnect: Esc or /disconnect cancels, before an attempt and during one") {
  Rig r;
  r.connected();
  r.lose();
  REQUIRE(r.state.reconnecting());
  CHECK(r.session.disconnect() != kNothing);
  CHECK_FALSE(r.state.reconnecting());
  CHECK(r.log.back().text == "reconnect cancelled");
  CHECK(r.session.poll_timeout_ms(r.clock.now) == -1);
  r.clock.now += seconds(120);
  r.session.on_tick(r.clock.now);
  CHECK(r.wire->connects == 1);

  r.connected();
  r.lose();
  r.run_to_attempt(seconds(1));
  r.session.disconnect();  // the attempt under way
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK_FALSE(r.state.reconnecting());
  r.clock.now += seconds(120);
  r.session.on_tick(r.clock.now);
  CHECK(r.wire->connects == 3);
}

TEST_CASE("reconnect: never after the user's disconnect, a first connect that failed, or a fatal refusal") {
  SUBCASE("the user's BYE") {
    Rig r;
    r.connected();
    r.session.disconnect();
    r.deliver(event(Incoming::What::Closed, "closed"));
    CHECK_FALSE(r.state.reconnecting());
  }
  SUBCASE("a first connect that never got through") {
    Rig r;
    r.session.connect("127.0.0.1", "1");
    r.deliver(event(Incoming::What::Failed, "refused"));
    CHECK_FALSE(r.state.reconnecting());
  }
  SUBCASE("an ERROR a retry would repeat") {
    Rig r;
    r.connected();
    r.server_error(Status::BadFrame);
    CHECK_FALSE(r.state.reconnecting());
  }
  SUBCASE("a refused sign-in") {
    Rig r;
    r.session.set_account("alice", [](const std::string&, std::string& pw, std::string&) {
      pw = "wrong";
      return true;
    });
    const auto reqs = r.connected();
    REQUIRE(!reqs.empty());
    r.deliver(response(reqs[0], Status::AuthFailed, text_payload("no")));
    r.lose();
    CHECK_FALSE(r.state.reconnecting());
  }
  SUBCASE("reconnect off (--plain)") {
    Rig r;
    r.session.set_reconnect(false);
    r.connected();
    r.lose();
    CHECK_FALSE(r.state.reconnecting());
  }
}

TEST_CASE("reconnect: an idle-timeout ERROR is retried; a new /connect replaces the reconnect") {
  Rig r;
  r.connected();
  r.server_error(Status::IdleTimeout);
  REQUIRE(r.state.reconnecting());
  r.session.connect("10.0.0.1", "2600");
  CHECK_FALSE(r.state.reconnecting());
  CHECK(r.wire->last_host == "10.0.0.1");
  r.deliver(event(Incoming::What::Failed, "refused"));
  CHECK_FALSE(r.state.reconnecting());  // a first connect to the new place
}

TEST_CASE("reconnect: in the App, Esc cancels it and Disconnect is enabled while it waits") {
  auto wire = std::make_shared<FakeWire>();
  Options o;
  o.nick = "alice";
  App app(o, fake_connector(wire));
  app.connect("127.0.0.1", "2555");
  wire->events.push_back(event(Incoming::What::Connected));
  wire->events.push_back(hello(3));
  wire->events.push_back(event(Incoming::What::Closed, "reset"));
  app.on_connection_ready();
  REQUIRE(app.state().session.reconnecting());
  CHECK(menu_item_enabled(app.state(), MenuItem::Disconnect));
  CHECK(menu_item_enabled(app.state(), MenuItem::Connect));
  Key esc;
  esc.code = Key::Code::Escape;
  app.on_key(esc);
  CHECK_FALSE(app.state().session.reconnecting());
  CHECK_FALSE(menu_item_enabled(app.state(), MenuItem::Disconnect));
}
