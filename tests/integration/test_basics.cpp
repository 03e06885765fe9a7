// Integration: HELLO, TIME, NAME, LIST, PING, NICK, SUBSCRIBE/PRESENCE, BYE,
// unknown types and malformed payloads (IPv6: test_ipv6.cpp).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// What localtime says about `time_us` in zone `tz` (POSIX TZ string).
std::pair<long, std::string> local_zone_at(std::int64_t time_us, const char* tz) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", tz, 1);
  tzset();
  const std::time_t t = static_cast<std::time_t>(time_us / 1000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::pair<long, std::string> r{tm.tm_gmtoff, tm.tm_zone};
  if (old) setenv("TZ", saved.c_str(), 1); else unsetenv("TZ");
  tzset();
  return r;
}

}  // namespace

TEST_CASE("HELLO announces the configured limits and the name") {
  Server s{"--heartbeat", "3", "--idle-timeout", "7", "--delivery-timeout", "4",
           "--max-payload", "4096", "--name", "itest-hello"};
  Client c(s);
  CHECK(c.hello().client_id == 1);
  CHECK(c.hello().heartbeat_s == 3);
  CHECK(c.hello().idle_timeout_s == 7);
  CHECK(c.hello().delivery_timeout_s == 4);
  CHECK(c.hello().max_payload == 4096);
  CHECK(c.hello().server_name == "itest-hello");
}

TEST_CASE("HELLO defaults: 10/30/5 s, 65536 bytes, the host name") {
  Server s;
  Client c(s);
  CHECK(c.hello().heartbeat_s == 10);
  CHECK(c.hello().idle_timeout_s == 30);
  CHECK(c.hello().delivery_timeout_s == 5);
  CHECK(c.hello().max_payload == 65536);
  CHECK(c.hello().server_name == host_name());
}

TEST_CASE("client ids start at 1 and are never reused") {
  Server s;
  std::uint32_t last = 0;
  for (int i = 0; i < 5; ++i) {
    Client c(s);
    CHECK(c.hello().client_id == last + 1);
    last = c.hello().client_id;
    if (i % 2 == 0) c.call(Type::Bye);  // leave both ways: BYE and plain close
  }
  Client a(s), b(s);
  CHECK(a.id() == 6);
  CHECK(b.id() == 7);
}

TEST_CASE("TIME: server clock close to ours, offset and zone of localtime") {
  SUBCASE("zone of this machine") {
    Server s;
    Client c(s);
    const std::int64_t before = now_us();
    const OwnedFrame f = c.call(Type::Time);
    check_ok(f, Type::Time);
    const TimeReply t = as_time(f);
    CHECK(std::llabs(t.time_us - before) < 5'000'000);
    const char* tz = std::getenv("TZ");
    const auto [off, zone] = local_zone_at(t.time_us, tz ? tz : ":/etc/localtime");
    CHECK(t.utc_offset_s == off);
    CHECK(t.zone == zone);
  }
  SUBCASE("a zone east of UTC with a half-hour offset") {
    Server s(ServerOptions{{}, "127.0.0.1", {"TZ=IST-5:30"}});
    Client c(s);
    const TimeReply t = as_time(c.call(Type::Time));
    CHECK(t.utc_offset_s == 5 * 3600 + 1800);
    CHECK(t.zone == "IST");
    CHECK(std::llabs(t.time_us - now_us()) < 5'000'000);
  }
  SUBCASE("a zone west of UTC") {
    Server s(ServerOptions{{}, "127.0.0.1", {"TZ=<-03>3"}});
    Client c(s);
    const TimeReply t = as_time(c.call(Type::Time));
    CHECK(t.utc_offset_s == -3 * 3600);
    CHECK(t.zone == "-03");
  }
}

TEST_CASE("NAME: --name, else the host name") {
  SUBCASE("--name") {
    Server s{"--name", "chat.example"};
    Client c(s);
    const OwnedFrame f = c.call(Type::Name);
    check_ok(f, Type::Name);
    CHECK(f.text() == "chat.example");
  }
  SUBCASE("default") {
    Server s;
    Client c(s);
    CHECK(c.call(Type::Name).text() == host_name());
  }
}

TEST_CASE("LIST: every client ascending by id, with its address, time and nick") {
  Server s;
  Client a(s), b(s), c(s);
  check_ok(a.call(Type::Nick, view(text_payload("alice"))), Type::Nick);
  const std::int64_t now = now_us();
  const OwnedFrame f = b.call(Type::List);
  check_ok(f, Type::List);
  const std::vector<Entry> list = as_list(f);
  REQUIRE(list.size() == 3);
  CHECK(list[0].id == a.id());
  CHECK(list[1].id == b.id());
  CHECK(list[2].id == c.id());
  CHECK(list[0].nick == "alice");
  CHECK(list[1].nick.empty());
  CHECK(list[0].addr == local_addr_of(a.fd()));
  CHECK(list[1].addr == local_addr_of(b.fd()));
  CHECK(list[2].addr == local_addr_of(c.fd()));
  CHECK(list[0].addr.family == 4);
  for (const Entry& e : list) {
    CHECK(e.connected_at_us <= now + 1'000'000);
    CHECK(e.connected_at_us > now - 30'000'000);
  }
  CHECK(list[0].connected_at_us <= list[2].connected_at_us);

  // A departed client disappears (once the server has noticed).
  b.close();
  std::vector<Entry> after;
  const auto t0 = Clock::now();
  do {
    after = as_list(a.call(Type::List));
  } while (after.size() != 2 && seconds_since(t0) < 5);
  REQUIRE(after.size() == 2);
  CHECK(after[0].id == a.id());
  CHECK(after[1].id == c.id());
}

TEST_CASE("PING echoes its payload, up to the max payload") {
  Server s{"--max-payload", "1024"};
  Client c(s);
  check_ok(c.call(Type::Ping), Type::Ping);
  CHECK(c.call(Type::Ping).payload.empty());
  Bytes bin;
  for (int i = 0; i < 256; ++i) bin.push_back(static_cast<std::uint8_t>(i));
  CHECK(c.call(Type::Ping, view(bin)).payload == bin);
  Bytes max(1024, 0xA5);
  const OwnedFrame f = c.call(Type::Ping, view(max));
  check_ok(f, Type::Ping);
  CHECK(f.payload == max);
}

TEST_CASE("NICK: valid nicks accepted, invalid ones BAD_REQUEST") {
  // Five renames in a row: more than the nick-change burst, which
  // --max-request-rate 0 lifts (the limit has its own test).
  Server s{"--max-request-rate", "0"};
  Client a(s);
  const std::string good[] = {"alice", "Zoë", "日本", std::string(32, 'x'),
                              std::string("\xc3\xa9", 2) + std::string(30, 'e')};
  for (const std::string& nick : good) {
    INFO("nick: ", nick);
    check_ok(a.call(Type::Nick, view(text_payload(nick))), Type::Nick);
  }
  const std::string bad[] = {
      "",                   // empty
      std::string(33, 'x'),  // too long
      "a b", "a\tb", "a\nb", "a\rb",
      "a\xc2\xa0" "b",        // U+00A0 no-break space
      "a\xe3\x80\x80" "b",    // U+3000 ideographic space
      "a\xe2\x80\xa8" "b",    // U+2028 line separator
      std::string("a\0b", 3), "\x01" "ab", "ab\x1b", "ab\x7f",
      "a\xc2\x85" "b",        // U+0085 (C1 control, NEL)
      "a\xc2\x9b" "b",        // U+009B (C1 control, CSI)
      "\xff", "ab\xc3",        // invalid UTF-8, truncated sequence
      "\xc0\xaf",             // overlong encoding
      "\xed\xa0\x80",         // UTF-16 surrogate
  };
  for (const std::string& nick : bad) {
    INFO("nick bytes: ", nick.size());
    check_error(a.call(Type::Nick, view(text_payload(nick))), Type::Nick, Status::BadRequest);
  }
  // Still usable, nick unchanged by the failures.
  const std::vector<Entry> list = as_list(a.call(Type::List));
  REQUIRE(list.size() == 1);
  CHECK(list[0].nick == std::string("\xc3\xa9", 2) + std::string(30, 'e'));
}

TEST_CASE("NICK: unique; a nick given up is free again") {
  Server s;
  Client a(s), b(s);
  check_ok(a.call(Type::Nick, view(text_payload("alice"))), Type::Nick);
  const OwnedFrame f = b.call(Type::Nick, view(text_payload("alice")));
  check_error(f, Type::Nick, Status::NickInUse);
  CHECK(f.text().find("in use") != std::string::npos);
  check_ok(a.call(Type::Nick, view(text_payload("alice2"))), Type::Nick);
  check_ok(b.call(Type::Nick, view(text_payload("alice"))), Type::Nick);
  // A departed client's nick is free too (once the server noticed).
  a.call(Type::Bye);
  Client c(s);
  OwnedFrame r = c.call(Type::Nick, view(text_payload("alice2")));
  for (const auto t0 = Clock::now(); r.status() != Status::Ok && seconds_since(t0) < 5;)
    r = c.call(Type::Nick, view(text_payload("alice2")));
  check_ok(r, Type::Nick);
}

TEST_CASE("SUBSCRIBE: JOINED, RENAMED, LEFT with reasons BYE and CLOSED") {
  Server s;
  Client watcher(s), quiet(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);

  Client a(s);
  Presence p = presence_of(watcher, PresenceEvent::Joined, a.id());
  CHECK(p.reason == LeaveReason::Bye);  // 0: not a LEFT
  CHECK(p.entry.addr == local_addr_of(a.fd()));
  CHECK(p.entry.nick.empty());

  check_ok(a.call(Type::Nick, view(text_payload("anna"))), Type::Nick);
  p = presence_of(watcher, PresenceEvent::Renamed, a.id());
  CHECK(p.entry.nick == "anna");
  CHECK(static_cast<int>(p.reason) == 0);

  check_ok(a.call(Type::Bye), Type::Bye);
  p = presence_of(watcher, PresenceEvent::Left, a.id());
  CHECK(p.reason == LeaveReason::Bye);
  CHECK(p.entry.nick == "anna");

  {
    Client b(s);
    presence_of(watcher, PresenceEvent::Joined, b.id());
    const std::uint32_t bid = b.id();
    b.close();
    CHECK(presence_of(watcher, PresenceEvent::Left, bid).reason == LeaveReason::Closed);
  }

  // Not subscribed: no PRESENCE ever.
  CHECK_FALSE(quiet.try_indication(Type::Presence, kQuiet).has_value());

  // SUBSCRIBE 0 stops the events.
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(0))), Type::Subscribe);
  // Drop events that were on their way before the SUBSCRIBE 0.
  while (watcher.try_indication(Type::Presence, kQuiet)) {
  }
  Client d(s);
  d.call(Type::Bye);
  CHECK_FALSE(watcher.try_indication(Type::Presence, Ms(500)).has_value());
}

TEST_CASE("SUBSCRIBE: malformed flags are BAD_REQUEST") {
  Server s;
  Client c(s);
  check_error(c.call(Type::Subscribe), Type::Subscribe, Status::BadRequest);
  check_error(c.call(Type::Subscribe, view(Bytes{1, 0})), Type::Subscribe, Status::BadRequest);
  check_ok(c.call(Type::Subscribe, view(u8_payload(1))), Type::Subscribe);
}

TEST_CASE("BYE: OK, then the server closes") {
  Server s;
  Client c(s);
  const OwnedFrame f = c.call(Type::Bye);
  check_ok(f, Type::Bye);
  CHECK(f.payload.empty());
  CHECK(c.wait_closed());
  CHECK(c.backlog().empty());
}

TEST_CASE("unknown request types: UNKNOWN_TYPE with the same id and type, connection stays") {
  Server s;
  Client c(s);
  for (const std::uint8_t type : {0, 11, 63, 100, 255}) {
    INFO("type ", int(type));
    const std::uint32_t id = c.request(type, view(text_payload("xyz")));
    const OwnedFrame f = c.response(id);
    CHECK(f.header.type == type);
    CHECK(f.status() == Status::UnknownType);
    CHECK(valid_utf8(f.text()));
  }
  check_ok(c.call(Type::Time), Type::Time);
}

TEST_CASE("payload where none belongs, short and trailing payloads: BAD_REQUEST, connection stays") {
  Server s;
  Client c(s);
  for (const Type t : {Type::Time, Type::Name, Type::List, Type::Bye}) {
    INFO(type_name(static_cast<std::uint8_t>(t)));
    check_error(c.call(t, view(Bytes{0})), t, Status::BadRequest);
  }
  check_error(c.call(Type::Ack, view(Bytes{0, 0, 1})), Type::Ack, Status::BadRequest);
  check_error(c.call(Type::Ack, view(Bytes{0, 0, 0, 1, 0})), Type::Ack, Status::BadRequest);
  check_error(c.call(Type::Send, view(Bytes{0, 0})), Type::Send, Status::BadRequest);
  check_ok(c.call(Type::Time), Type::Time);
  CHECK(!c.eof());
}

TEST_CASE("IPv4 clients of a server on every address are reported as family 4") {
  Server s(ServerOptions{{}, "", {}});
  Client c(s);
  const std::vector<Entry> list = as_list(c.call(Type::List));
  REQUIRE(list.size() == 1);
  CHECK(list[0].addr.family == 4);
  CHECK(list[0].addr == local_addr_of(c.fd()));
}
