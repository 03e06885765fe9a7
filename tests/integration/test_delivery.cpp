// Integration: SEND, MESSAGE and ACK -- end-to-end acknowledgement, the
// delivery timeout, targets that leave, ordering, ACK errors, the rate limit.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

void ack(Client& c, std::uint32_t message_id) {
  check_ok(c.call(Type::Ack, view(u32_payload(message_id))), Type::Ack);
}

// Waits until `probe` no longer sees client `gone` in LIST.
void wait_gone(Client& probe, std::uint32_t gone) {
  const auto t0 = Clock::now();
  for (;;) {
    bool present = false;
    for (const Entry& e : as_list(probe.call(Type::List))) present |= e.id == gone;
    if (!present) return;
    REQUIRE(seconds_since(t0) < 5);
  }
}

// Pipelines `count` SENDs "<prefix><i>" to `target` in one write; returns
// their request ids.
std::vector<std::uint32_t> send_batch(Client& from, std::uint32_t target, int count,
                                      const std::string& prefix) {
  Bytes batch;
  std::vector<std::uint32_t> reqs;
  for (int i = 0; i < count; ++i)
    reqs.push_back(from.add_request(batch, Type::Send, view(send_payload(target, prefix + std::to_string(i)))));
  from.send_raw(view(batch));
  return reqs;
}

}  // namespace

TEST_CASE("SEND: OK with the message id only after the target's ACK") {
  Server s;
  Client a(s), b(s);
  check_ok(a.call(Type::Nick, view(text_payload("alice"))), Type::Nick);
  const std::int64_t before = now_us();
  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "hello, bob ✓")));

  const OwnedFrame m = b.indication(Type::Message);
  CHECK(m.id() == 1);  // the first message id of this server
  CHECK(m.status() == Status::Ok);
  const Message msg = as_message(m);
  CHECK(msg.sender == a.id());
  CHECK(msg.addr == local_addr_of(a.fd()));
  CHECK(msg.nick == "alice");
  CHECK(msg.text == "hello, bob ✓");
  CHECK(msg.sent_at_us >= before - 1'000'000);
  CHECK(msg.sent_at_us <= now_us() + 1'000'000);

  // Not answered before the ACK.
  CHECK_FALSE(a.try_response(req, Ms(500)).has_value());
  ack(b, m.id());
  const OwnedFrame ok = a.response(req);
  check_ok(ok, Type::Send);
  CHECK(as_u32(ok) == m.id());
}

TEST_CASE("SEND to yourself is delivered and acknowledged") {
  Server s;
  Client a(s);
  const std::uint32_t req = a.request(Type::Send, view(send_payload(a.id(), "note to self")));
  const OwnedFrame m = a.indication(Type::Message);
  const Message msg = as_message(m);
  CHECK(msg.sender == a.id());
  CHECK(msg.text == "note to self");
  ack(a, m.id());
  const OwnedFrame ok = a.response(req);
  check_ok(ok, Type::Send);
  CHECK(as_u32(ok) == m.id());
}

TEST_CASE("delivery timeout: a target that never ACKs -> NOT_DELIVERED with the message id") {
  Server s{"--delivery-timeout", "1"};
  Client a(s), b(s);
  CHECK(a.hello().delivery_timeout_s == 1);
  const auto t0 = Clock::now();
  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "anyone there?")));
  const OwnedFrame m = b.indication(Type::Message);
  const OwnedFrame r = a.response(req, Ms(6000));
  const double took = seconds_since(t0);
  check_error(r, Type::Send, Status::NotDelivered);
  CHECK(as_not_delivered(r).message_id == m.id());
  CHECK(took >= 0.9);
  CHECK(took < 6.0);
  // Too late now: the message expired.
  check_error(b.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack, Status::NoSuchMessage);
}

TEST_CASE("the target leaving before it ACKs -> NOT_DELIVERED at once") {
  Server s{"--delivery-timeout", "60"};
  Client a(s);
  SUBCASE("target closes") {
    Client b(s);
    const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "bye?")));
    const OwnedFrame m = b.indication(Type::Message);
    b.close();
    const OwnedFrame r = a.response(req);
    check_error(r, Type::Send, Status::NotDelivered);
    CHECK(as_not_delivered(r).message_id == m.id());
  }
  SUBCASE("target says BYE") {
    Client b(s);
    const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "bye?")));
    const OwnedFrame m = b.indication(Type::Message);
    check_ok(b.call(Type::Bye), Type::Bye);
    const OwnedFrame r = a.response(req);
    check_error(r, Type::Send, Status::NotDelivered);
    CHECK(as_not_delivered(r).message_id == m.id());
  }
  SUBCASE("several pending messages, target never read them") {
    Client b(s);
    std::vector<std::uint32_t> reqs;
    for (int i = 0; i < 5; ++i)
      reqs.push_back(a.request(Type::Send, view(send_payload(b.id(), std::string("m").append(std::to_string(i))))));
    // Let them reach the server before the target goes.
    check_ok(a.call(Type::Time), Type::Time);
    b.close();
    for (const std::uint32_t req : reqs) check_error(a.response(req), Type::Send, Status::NotDelivered);
  }
}

TEST_CASE("NO_SUCH_CLIENT: unknown, zero and departed targets") {
  Server s;
  Client a(s);
  check_error(a.call(Type::Send, view(send_payload(9999, "hi"))), Type::Send, Status::NoSuchClient);
  check_error(a.call(Type::Send, view(send_payload(0, "hi"))), Type::Send, Status::NoSuchClient);
  std::uint32_t gone = 0;
  {
    Client b(s);
    gone = b.id();
  }
  wait_gone(a, gone);
  check_error(a.call(Type::Send, view(send_payload(gone, "hi"))), Type::Send, Status::NoSuchClient);
}

TEST_CASE("malformed SEND: BAD_REQUEST") {
  Server s;
  Client a(s), b(s);
  check_error(a.call(Type::Send, view(send_payload(b.id(), ""))), Type::Send, Status::BadRequest);
  check_error(a.call(Type::Send, view(send_payload(b.id(), "bad \xff utf-8"))), Type::Send,
              Status::BadRequest);
  check_error(a.call(Type::Send, view(Bytes{0, 0, 0})), Type::Send, Status::BadRequest);
  check_error(a.call(Type::Send), Type::Send, Status::BadRequest);
  // Nothing reached b.
  CHECK_FALSE(b.try_indication(Type::Message, kQuiet).has_value());
}

TEST_CASE("messages from one sender to one target arrive in order, ids unique and rising") {
  Server s{"--max-send-rate", "0"};
  Client a(s), b(s);
  constexpr int kCount = 50;
  const std::vector<std::uint32_t> reqs = send_batch(a, b.id(), kCount, "m");

  std::vector<std::uint32_t> ids;
  Bytes acks;
  for (int i = 0; i < kCount; ++i) {
    const OwnedFrame m = b.indication(Type::Message);
    CHECK(as_message(m).text == std::string("m").append(std::to_string(i)));
    if (!ids.empty()) CHECK(m.id() > ids.back());
    ids.push_back(m.id());
    b.add_request(acks, Type::Ack, view(u32_payload(m.id())));
  }
  b.send_raw(view(acks));
  for (int i = 0; i < kCount; ++i) {
    const OwnedFrame r = a.response(reqs[static_cast<std::size_t>(i)]);
    check_ok(r, Type::Send);
    CHECK(as_u32(r) == ids[static_cast<std::size_t>(i)]);
  }
  for (int i = 0; i < kCount; ++i) {
    const auto f = b.next_frame(Ms(2000));
    REQUIRE(f.has_value());
    check_ok(*f, Type::Ack);
  }
}

TEST_CASE("message ids are unique across senders and never reused") {
  Server s{"--delivery-timeout", "1"};
  Client a(s), b(s), t(s);
  std::map<std::uint32_t, int> seen;
  for (int round = 0; round < 3; ++round) {
    for (Client* sender : {&a, &b}) {
      const std::uint32_t req = sender->request(Type::Send, view(send_payload(t.id(), "x")));
      const OwnedFrame m = t.indication(Type::Message);
      ++seen[m.id()];
      if (round == 1) {
        // Not acknowledged: NOT_DELIVERED after the timeout.
        check_error(sender->response(req, Ms(6000)), Type::Send, Status::NotDelivered);
      } else {
        ack(t, m.id());
        check_ok(sender->response(req), Type::Send);
      }
    }
  }
  CHECK(seen.size() == 6);
  for (const auto& [id, n] : seen) CHECK(n == 1);
}

TEST_CASE("ACK errors: unknown, zero, foreign, already acknowledged -> NO_SUCH_MESSAGE") {
  Server s;
  Client a(s), b(s), c(s);
  check_error(b.call(Type::Ack, view(u32_payload(123456))), Type::Ack, Status::NoSuchMessage);
  check_error(b.call(Type::Ack, view(u32_payload(0))), Type::Ack, Status::NoSuchMessage);

  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "for b only")));
  const OwnedFrame m = b.indication(Type::Message);
  // Neither the sender nor a third client may acknowledge b's message.
  check_error(a.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack, Status::NoSuchMessage);
  check_error(c.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack, Status::NoSuchMessage);
  CHECK_FALSE(a.try_response(req, kQuiet).has_value());

  ack(b, m.id());
  check_ok(a.response(req), Type::Send);
  check_error(b.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack, Status::NoSuchMessage);
}

TEST_CASE("rate limit: a burst of 30 SENDs at --max-send-rate 5 -> some RATE_LIMITED") {
  Server s{"--max-send-rate", "5"};
  Client a(s);
  constexpr int kCount = 30;
  Bytes batch;
  std::map<std::uint32_t, bool> pending;
  for (int i = 0; i < kCount; ++i)
    pending[a.add_request(batch, Type::Send, view(send_payload(a.id(), "burst")))] = true;
  a.send_raw(view(batch));

  int ok = 0, limited = 0;
  const auto t0 = Clock::now();
  while (!pending.empty() && seconds_since(t0) < 10) {
    const auto f = a.next_frame(Ms(1000));
    if (!f) continue;
    if (f->kind() == Kind::Indication && f->type() == Type::Message) {
      a.request(Type::Ack, view(u32_payload(f->id())));
    } else if (f->kind() == Kind::Response && pending.erase(f->id()) == 1) {
      CHECK(f->type() == Type::Send);
      if (f->status() == Status::Ok) ++ok;
      if (f->status() == Status::RateLimited) {
        check_error(*f, Type::Send, Status::RateLimited);
        ++limited;
      }
    }
  }
  CHECK(pending.empty());
  INFO("ok ", ok, " rate limited ", limited);
  CHECK(ok + limited == kCount);
  CHECK(ok >= 10);  // the burst of 2 x 5 goes through
  CHECK(limited >= 5);
}

TEST_CASE("rate limit 0 is unlimited") {
  Server s{"--max-send-rate", "0"};
  Client a(s), b(s);
  constexpr int kCount = 500;
  const std::vector<std::uint32_t> reqs = send_batch(a, b.id(), kCount, "u");
  Bytes acks;
  for (int i = 0; i < kCount; ++i) b.add_request(acks, Type::Ack, view(u32_payload(b.indication(Type::Message).id())));
  b.send_raw(view(acks));
  for (const std::uint32_t req : reqs) check_ok(a.response(req), Type::Send);
}
