// Integration: pipelining, reassembly, many clients, garbage, and a client
// that stops reading (SENDQ_EXCEEDED) without slowing anyone else down.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

struct Expected {
  std::uint32_t id;
  Type type;
  Status status;
  Bytes echo;  // PING: the payload that must come back
};

// One request of a mixed pipeline; every type but SEND answers in order.
Expected add_mixed(Client& c, Bytes& out, int i) {
  switch (i % 6) {
    case 0: return {c.add_request(out, Type::Time), Type::Time, Status::Ok, {}};
    case 1: return {c.add_request(out, Type::Name), Type::Name, Status::Ok, {}};
    case 2: {
      Bytes p = text_payload("ping " + std::to_string(i));
      return {c.add_request(out, Type::Ping, view(p)), Type::Ping, Status::Ok, p};
    }
    case 3: return {c.add_request(out, Type::List), Type::List, Status::Ok, {}};
    case 4: {
      const std::uint32_t id = c.add_request(out, Type::Nick, view(text_payload(std::string("n").append(std::to_string(i)))));
      return {id, Type::Nick, Status::Ok, {}};
    }
    default: return {c.add_request(out, std::uint8_t{42}), static_cast<Type>(42), Status::UnknownType, {}};
  }
}

std::uint32_t seed_from_env() {
  const char* s = std::getenv("ITEST_SEED");
  return s ? static_cast<std::uint32_t>(std::strtoul(s, nullptr, 10)) : 20261126u;
}

// Bytes a broken or hostile client might send.
Bytes garbage(std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255), len(1, 4096), pick(0, 3);
  Bytes b;
  switch (pick(rng)) {
    case 0: break;  // pure noise
    case 1: b = {kMagic0, kMagic1, kVersion, 1}; break;  // a plausible header start
    case 2: {  // a valid request of any type, then noise
      Bytes p(static_cast<std::size_t>(len(rng) % 64));
      for (auto& x : p) x = static_cast<std::uint8_t>(byte(rng));
      b = raw_frame(1, static_cast<std::uint8_t>(byte(rng) % 12), 1, view(p));
      break;
    }
    default: {  // a header announcing far more than will ever come
      Bytes none;
      b = raw_frame(1, 5, 1, view(none));
      b[12] = static_cast<std::uint8_t>(byte(rng));
      break;
    }
  }
  const int n = len(rng);
  for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(byte(rng)));
  return b;
}

}  // namespace

TEST_CASE("1000 pipelined requests in one write are answered in order") {
  // About ordering, not the request budget (its own tests are in
  // tests/faults/test_abuse.cpp): 1000 mixed requests cost more than a burst.
  Server s{"--max-request-rate", "0"};
  Client c(s);
  Bytes out;
  std::vector<Expected> expected;
  for (int i = 0; i < 1000; ++i) expected.push_back(add_mixed(c, out, i));
  c.send_raw(view(out));
  for (const Expected& e : expected) {
    const auto f = c.next_frame(kWait);
    REQUIRE(f.has_value());
    INFO("expected id ", e.id, ", got ", f->describe());
    REQUIRE(f->kind() == Kind::Response);
    REQUIRE(f->id() == e.id);
    CHECK(f->type() == e.type);
    CHECK(f->status() == e.status);
    if (e.type == Type::Ping) CHECK(f->payload == e.echo);
  }
  CHECK_FALSE(c.next_frame(kQuiet).has_value());
}

TEST_CASE("requests fed one byte at a time are reassembled") {
  Server s;
  Client c(s);
  Bytes out;
  const std::uint32_t ping = c.add_request(out, Type::Ping, view(text_payload("one byte at a time")));
  const std::uint32_t nick = c.add_request(out, Type::Nick, view(text_payload("slowpoke")));
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    c.send_raw(ByteView(out.data() + i, 1));
    std::this_thread::sleep_for(Ms(1));
  }
  const auto echo = c.response(ping);
  check_ok(echo, Type::Ping);
  CHECK(echo.text() == "one byte at a time");
  // The NICK lacks its last byte: no answer yet.
  CHECK_FALSE(c.try_response(nick, kQuiet).has_value());
  c.send_raw(ByteView(&out.back(), 1));
  check_ok(c.response(nick), Type::Nick);
  CHECK(as_list(c.call(Type::List)).at(0).nick == "slowpoke");
}

TEST_CASE("100 clients x 100 pipelined TIME requests: every response exactly once") {
  Server s;
  constexpr int kClients = 100, kRequests = 100;
  std::vector<std::unique_ptr<Client>> clients;
  // Ten clients per source address: within the default per-address limits.
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(
        s, ClientOptions{0, true, "127.0.3." + std::to_string(i / 10 + 1)}));
  }
  const auto t0 = Clock::now();
  for (auto& c : clients) {
    Bytes out;
    for (int r = 0; r < kRequests; ++r) c->add_request(out, Type::Time);
    c->send_raw(view(out));
  }
  int total = 0;
  for (auto& c : clients) {
    std::set<std::uint32_t> seen;
    for (int r = 0; r < kRequests; ++r) {
      const auto f = c->next_frame(Ms(10000));
      REQUIRE(f.has_value());
      CHECK(f->kind() == Kind::Response);
      CHECK(f->type() == Type::Time);
      CHECK(f->status() == Status::Ok);
      CHECK(f->id() == static_cast<std::uint32_t>(r + 1));  // in order, so exactly once
      seen.insert(f->id());
      ++total;
    }
    CHECK(seen.size() == kRequests);
  }
  MESSAGE(total, " responses in ", seconds_since(t0), " s");
  for (auto& c : clients) CHECK_FALSE(c->next_frame(Ms(0)).has_value());
}

TEST_CASE("random garbage on 300 connections; the server keeps answering") {
  Server s;
  const std::uint32_t seed = seed_from_env();
  MESSAGE("garbage seed ", seed, " (set ITEST_SEED to replay)");
  std::mt19937 rng(seed);
  constexpr int kConnections = 300, kBatch = 50;
  for (int done = 0; done < kConnections; done += kBatch) {
    std::vector<std::unique_ptr<Client>> batch;
    for (int i = 0; i < kBatch; ++i) {
      // One or two connections per source address (default per-address limits).
      const int n = done + i;
      batch.push_back(std::make_unique<Client>(
          s, ClientOptions{0, false, "127.0.4." + std::to_string(n % 250 + 1)}));
      batch.back()->try_send(view(garbage(rng)), Ms(1000));  // the server may close first
    }
    // Some read what came back, then all of them go away.
    for (std::size_t i = 0; i < batch.size(); i += 3) batch[i]->wait_closed(Ms(50));
  }
  Client c(s);
  check_ok(c.call(Type::Time), Type::Time);
  const OwnedFrame echo = c.call(Type::Ping, view(text_payload("alive")));
  CHECK(echo.text() == "alive");
  // Every garbage connection is gone, eventually.
  std::size_t listed = 0;
  for (const auto t0 = Clock::now(); seconds_since(t0) < 10;) {
    listed = as_list(c.call(Type::List)).size();
    if (listed == 1) break;
    std::this_thread::sleep_for(Ms(100));
  }
  CHECK(listed == 1);
}

TEST_CASE("a silent slow reader is not dropped for what others send it: SENDs beyond --max-unacked are RATE_LIMITED") {
  // --sendq must be at least --max-payload + 128; the unacked cap stays
  // below --sendq, so messages alone can never fill the reader's queue.
  Server s{"--sendq", "65536", "--max-payload", "8192", "--max-send-rate", "0",
           "--max-unacked", "32768", "--delivery-timeout", "3"};
  Client watcher(s), timer(s), flooder(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  // Small receive buffer, set before connect; it reads HELLO and nothing else.
  Client slow(s, ClientOptions{4096, true});
  presence_of(watcher, PresenceEvent::Joined, slow.id());

  const std::string text(8000, 'f');
  std::set<std::uint32_t> pending;
  int busy = 0, undelivered = 0, other = 0;
  double worst_time = 0;
  const auto settle = [&](const OwnedFrame& f) {
    INFO(f.describe(), " ", f.text());
    CHECK(pending.erase(f.id()) == 1);
    if (f.status() == Status::RateLimited) {
      ++busy;
      CHECK(f.text().find("busy") != std::string::npos);
    } else if (f.status() == Status::NotDelivered) {
      ++undelivered;
    } else {
      ++other;
    }
  };
  const auto time_once = [&] {
    const auto t = Clock::now();
    check_ok(timer.call(Type::Time, {}, Ms(2000)), Type::Time);
    worst_time = std::max(worst_time, seconds_since(t));
  };
  // 400 SENDs of 8000 bytes (3.2 MB, 50 times --sendq) at the silent reader.
  const auto t0 = Clock::now();
  for (int round = 0; round < 50; ++round) {
    Bytes batch;
    for (int i = 0; i < 8; ++i) pending.insert(flooder.add_request(batch, Type::Send, view(send_payload(slow.id(), text))));
    REQUIRE(flooder.try_send(view(batch), Ms(2000)));
    while (auto f = flooder.next_frame(Ms(0))) settle(*f);
    time_once();
  }
  // What was queued within the cap is settled by the delivery timeout.
  while (!pending.empty() && seconds_since(t0) < 30) {
    time_once();
    if (auto f = flooder.next_frame(Ms(200))) settle(*f);
  }
  MESSAGE(busy, " SENDs refused as busy, ", undelivered, " NOT_DELIVERED after the timeout, in ",
          seconds_since(t0), " s; worst TIME round trip ", worst_time, " s");
  CHECK(pending.empty());
  CHECK(other == 0);
  CHECK(busy >= 300);        // at most 32768 / 8000 = 4 in flight at once
  CHECK(undelivered >= 4);
  CHECK(worst_time < 2.0);
  // The reader is still there, and nobody heard it leave.
  CHECK_FALSE(watcher.take_if([&](const OwnedFrame& f) {
    return f.type() == Type::Presence && as_presence(f).event == PresenceEvent::Left;
  }, Ms(0)).has_value());
  const std::vector<Entry> list = as_list(watcher.call(Type::List));
  CHECK(std::any_of(list.begin(), list.end(), [&](const Entry& e) { return e.id == slow.id(); }));
  // Once it reads again, it gets its messages in order and can ACK them.
  std::optional<OwnedFrame> m = slow.indication(Type::Message, Ms(5000));
  REQUIRE(m.has_value());
  CHECK(as_message(*m).text == text);
}

TEST_CASE("a subscriber that stops reading is dropped with SENDQ_EXCEEDED once presence events pass --sendq") {
  // Renames as fast as a pipeline goes: the nick-change limit is lifted.
  Server s{"--sendq", "16384", "--max-payload", "8192", "--max-request-rate", "0"};
  Client watcher(s), renamer(s);
  check_ok(watcher.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  Client deaf(s, ClientOptions{4096, true});
  check_ok(deaf.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  // Each RENAMED with a 32-byte nick is ~70 bytes for the deaf subscriber;
  // the kernel's socket buffers (megabytes on loopback) fill first.
  const std::string nicks[2] = {std::string(32, 'a'), std::string(32, 'b')};
  std::optional<Presence> left;
  int renames = 0;
  for (const auto t0 = Clock::now(); !left && renames < 400000 && seconds_since(t0) < 30;) {
    Bytes batch;
    std::vector<std::uint32_t> ids;
    for (int i = 0; i < 500; ++i, ++renames) {
      ids.push_back(renamer.add_request(batch, Type::Nick, view(text_payload(nicks[renames % 2]))));
    }
    renamer.send_raw(view(batch));
    for (std::uint32_t id : ids) check_ok(renamer.response(id), Type::Nick);
    while (auto f = watcher.take_if([](const OwnedFrame& f) { return f.type() == Type::Presence; }, Ms(0))) {
      const Presence p = as_presence(*f);
      if (p.event == PresenceEvent::Left && p.entry.id == deaf.id()) left = p;
    }
  }
  MESSAGE("deaf subscriber dropped after ", renames, " renames");
  REQUIRE(left.has_value());
  CHECK(left->reason == LeaveReason::SendqExceeded);
  CHECK(deaf.wait_closed(Ms(10000)));
  check_ok(watcher.call(Type::Time), Type::Time);
}
