// Session against a fake transport and a fake clock: the protocol side of
// the client without sockets, threads or a terminal.
#include <doctest/doctest.h>

#include "fake_transport.hpp"

using namespace sc;
using namespace sc::tui;
using namespace sc::tui::test;

namespace {

struct Rig : SessionRig {
  // Connects and takes the HELLO; answers nothing yet.
  std::vector<FakeWire::Request> connect(std::uint32_t id = 1, std::uint16_t heartbeat_s = 10,
                                         std::uint16_t idle_s = 30) {
    session.connect("127.0.0.1", "2555");
    wire->events.push_back(event(Incoming::What::Connected));
    wire->events.push_back(hello(id, heartbeat_s, idle_s));
    session.on_ready();
    return wire->requests();
  }
};

}  // namespace

TEST_CASE("session: connect, greeting, then nick, subscribe and a quiet list") {
  Rig r;
  r.session.set_wanted_nick("alice");
  CHECK(r.session.connect("127.0.0.1", "2555") != kNothing);
  CHECK(r.state.phase == Phase::Connecting);
  CHECK(r.state.server == "127.0.0.1:2555");
  r.wire->events.push_back(event(Incoming::What::Connected));
  r.session.on_ready();
  CHECK(r.state.phase == Phase::Greeting);
  r.wire->events.push_back(hello(7));
  r.session.on_ready();
  CHECK(r.state.phase == Phase::Connected);
  CHECK(has_line(r.log, "connected to 127.0.0.1:2555 as client 7 (server fake)"));
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 3);
  CHECK(type_of(reqs[0]) == Type::Nick);
  CHECK(type_of(reqs[1]) == Type::Subscribe);
  CHECK(type_of(reqs[2]) == Type::List);
  r.deliver(response(reqs[0]));
  CHECK(r.state.nick == "alice");
  r.deliver(response(reqs[2], Status::Ok, list_payload({entry(7, "alice"), entry(9, "bob")})));
  CHECK(r.state.clients.size() == 2);
  CHECK_FALSE(has_line(r.log, "clients 2"));  // the quiet list only fills the pane
}

TEST_CASE("session: a failed connect says why and leaves it disconnected") {
  Rig r;
  r.session.connect("127.0.0.1", "1");
  r.deliver(event(Incoming::What::Failed, "connect to 127.0.0.1:1: Connection refused"));
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(r.session.connect_failed());
  CHECK(r.log.back().text == "connect failed: connect to 127.0.0.1:1: Connection refused");
}

TEST_CASE("session: output never blocks; a full kernel buffer waits for POLLOUT") {
  Rig r;
  r.connect();
  r.wire->accept = 0;  // the server stopped reading
  CHECK(r.session.send_message(9, "hello") != kNothing);
  CHECK(r.wire->written.empty());
  CHECK(r.session.queued_bytes() > 0);
  CHECK(r.session.write_fd() == 101);  // the loop polls for POLLOUT
  r.wire->accept = 3;                  // room for a part only
  r.session.on_writable();
  CHECK(r.wire->written.size() == 3);
  CHECK(r.session.write_fd() == 101);
  r.wire->accept = SIZE_MAX;
  r.session.on_writable();
  CHECK(r.session.queued_bytes() == 0);
  CHECK(r.session.write_fd() == -1);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Send);
  const SendRequest sr = send_request_of(reqs[0]);
  CHECK(sr.target == 9);
  CHECK(sr.text == "hello");
}

TEST_CASE("session: a server that reads nothing for the stall limit loses the connection") {
  Rig r;
  r.connect();
  r.wire->accept = 0;
  r.session.send_message(9, "hello");
  CHECK(r.session.poll_timeout_ms(r.clock.now) <= 5000);
  r.clock.now += std::chrono::seconds(4);
  r.session.on_tick(r.clock.now);
  CHECK(r.state.phase == Phase::Connected);
  r.clock.now += std::chrono::seconds(1);
  r.session.on_tick(r.clock.now);
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(r.wire->closed);
  CHECK(has_line(r.log, "connection lost: the server has not read our data for 5 s"));
  CHECK(has_line(r.log, "sending to 9: hello (not delivered: connection closed before an answer)"));
}

TEST_CASE("session: a broken write drops the connection with the reason") {
  Rig r;
  r.connect();
  r.wire->broken = true;
  r.session.ask_name();
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(r.log.back().text == "connection lost: Broken pipe");
}

TEST_CASE("session: heartbeat after the interval, idle timeout without traffic") {
  Rig r;
  r.connect(1, 10, 30);
  CHECK(r.session.poll_timeout_ms(r.clock.now) == 10000);
  r.clock.now += std::chrono::seconds(10);
  r.session.on_tick(r.clock.now);
  auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Ping);
  r.clock.now += std::chrono::seconds(20);
  r.session.on_tick(r.clock.now);
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(has_line(r.log, "connection lost: nothing from the server for 30 s"));
}

TEST_CASE("session: no greeting within 10 s ends the attempt") {
  Rig r;
  r.session.connect("127.0.0.1", "2555");
  r.deliver(event(Incoming::What::Connected));
  r.clock.now += std::chrono::seconds(10);
  r.session.on_tick(r.clock.now);
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(r.log.back().text == "connection lost: no greeting from the server");
}

TEST_CASE("session: an incoming message is ACKed only once ack_shown says its line is on screen") {
  Rig r;
  r.connect();
  r.deliver(message(55, 9, "bob", "hi"));
  CHECK(has_line(r.log, "message from 9 (bob)"));
  CHECK(r.session.take_bell());
  CHECK_FALSE(r.session.take_bell());
  CHECK(r.wire->requests().empty());
  const std::uint64_t seq = r.log.end_seq() - 1;
  r.session.ack_shown([](std::uint64_t) { return false; });  // not painted: nothing goes out
  CHECK(r.wire->requests().empty());
  CHECK(r.session.unshown() == 1);
  r.session.ack_shown([seq](std::uint64_t s) { return s == seq; });
  CHECK(r.session.unshown() == 0);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Ack);
  std::uint32_t id = 0;
  decode_u32(ByteView(reqs[0].payload.data(), reqs[0].payload.size()), id);
  CHECK(id == 55);
}

TEST_CASE("session: /time N pipelines N requests in one write and sums them up") {
  Rig r;
  r.connect();
  const std::size_t before = r.session.outstanding();
  r.session.ask_time(3);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 3);
  CHECK(r.session.ask_time(2) != kNothing);  // refused while the batch runs
  CHECK(r.log.back().text == "error: a /time batch is still running");
  for (const auto& q : reqs) {
    Bytes p;
    put_time_reply(p, TimeReply{1'700'000'000'000'000, 0, "UTC"});
    r.deliver(response(q, Status::Ok, p));
  }
  CHECK(r.log.back().text.starts_with("3/3 responses in "));
  CHECK(r.session.outstanding() == before);
}

TEST_CASE("session: send outcomes mark the sending line") {
  Rig r;
  auto setup = r.connect();
  r.deliver(response(setup[1], Status::Ok, list_payload({entry(1, "me"), entry(9, "bob")})));
  r.session.send_message(9, "one");
  r.session.send_message(3, "two");
  CHECK(r.session.undelivered() == 2);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 2);
  Bytes ok;
  put_u32(ok, 77);
  r.deliver(response(reqs[0], Status::Ok, ok));
  r.deliver(response(reqs[1], Status::NoSuchClient, text_payload("no client 3")));
  CHECK(has_line(r.log, "sent to 9 (bob): one (delivered)"));
  CHECK(has_line(r.log, "sending to 3: two (not delivered: no such client (no client 3))"));
  CHECK(r.session.undelivered() == 0);
}

TEST_CASE("session: nick refusals in plain words") {
  Rig r;
  r.connect();
  r.session.ask_nick("bob");
  auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  r.deliver(response(reqs[0], Status::NickInUse, text_payload("NICK_IN_USE")));
  CHECK(r.log.back().text == "nick bob rejected: another client is using it; you have no nick");
  r.session.ask_nick("carol");
  reqs = r.wire->requests();
  r.deliver(response(reqs[0], Status::RateLimited, text_payload("slow down")));
  CHECK(r.log.back().text == "nick carol rejected: too many nick changes, wait a little and try again; you have no nick");
  CHECK(status_word(Status::NickInUse) == "nick in use");
}

TEST_CASE("session: BYE, the answer, and the connection is closed") {
  Rig r;
  r.connect();
  r.session.disconnect();
  CHECK(r.state.phase == Phase::Closing);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Bye);
  r.deliver(response(reqs[0]));
  CHECK(r.state.phase == Phase::Disconnected);
  CHECK(r.wire->closed);
  CHECK(r.log.back().text == "disconnected");
}

TEST_CASE("session: presence keeps the client list") {
  Rig r;
  r.connect(1);
  r.deliver(presence(PresenceEvent::Joined, entry(4, "dave")));
  CHECK(r.state.clients.contains(4));
  r.deliver(presence(PresenceEvent::Renamed, entry(4, "david")));
  CHECK(r.state.clients.at(4).nick == "david");
  r.deliver(presence(PresenceEvent::Left, entry(4, "david")));
  CHECK_FALSE(r.state.clients.contains(4));
  CHECK(has_line(r.log, "left 4 david"));
}
