// Every frame of protocol-vectors.json (both editions) decodes to exactly its
// listed fields and re-encodes to exactly its bytes; and decodes the same
// however the bytes are split across feeds.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "common/codec.hpp"
#include "helpers.hpp"
#include "vectors.hpp"

namespace sc::test {
namespace {

Role role_for(std::uint8_t kind) {
  return kind == static_cast<std::uint8_t>(Kind::Request) ? Role::Server : Role::Client;
}

// Field lookup that remembers which keys a check used, so that a vector
// field no check looked at fails the test instead of going unverified.
class Fields {
 public:
  explicit Fields(const Vector& v) : v_(v) {}

  std::int64_t num(const char* key) { return find(key, false).num; }
  std::string str(const char* key) { return find(key, true).str; }
  bool has(const char* key) const {
    for (const VectorField& f : v_.fields)
      if (std::strcmp(f.key, key) == 0) return true;
    return false;
  }

  void check_all_used() const {
    for (const VectorField& f : v_.fields) {
      INFO("vector field ", f.key);
      CHECK(used_.count(f.key) == 1);
    }
  }

 private:
  const VectorField& find(const char* key, bool want_str) {
    for (const VectorField& f : v_.fields) {
      if (std::strcmp(f.key, key) == 0) {
        REQUIRE_MESSAGE((f.str != nullptr) == want_str, "field ", key, " has the wrong type");
        used_.insert(key);
        return f;
      }
    }
    FAIL("vector has no field ", key);
    return v_.fields.front();  // not reached: FAIL throws
  }

  const Vector& v_;
  std::set<std::string> used_;
};

Entry entry_of(const VectorEntry& e) {
  Entry out;
  out.id = e.id;
  out.addr = addr_of(e.ip, e.port);
  REQUIRE(out.addr.family == e.family);
  out.connected_at_us = e.connected_at_us;
  out.nick = e.nick;
  return out;
}

// Decodes `payload` with the typed decoder for this vector's kind, type and
// status, checks every field against the vector, and returns the payload
// re-encoded from the decoded values with the typed encoder.
Bytes check_payload(const Vector& v, ByteView payload);

Bytes check_error_payload(const Vector& v, ByteView payload, Fields& f) {
  Bytes out;
  if (v.type == static_cast<std::uint8_t>(Type::Send) &&
      v.status == static_cast<std::uint8_t>(Status::NotDelivered)) {
    NotDelivered nd;
    REQUIRE(decode_not_delivered(payload, nd) == Status::Ok);
    CHECK(nd.message_id == f.num("message_id"));
    CHECK(nd.text == f.str("text"));
    put_not_delivered(out, nd);
  } else {
    std::string text;
    REQUIRE(decode_text(payload, text) == Status::Ok);
    CHECK(text == f.str("text"));
    put_text(out, text);
  }
  return out;
}

Bytes check_ping(ByteView payload, Fields& f) {
  const std::string data(payload.begin(), payload.end());
  CHECK(data == f.str("data"));
  return bytes_of(data);
}

Bytes check_empty(ByteView payload) {
  CHECK(payload.empty());
  return {};
}

Bytes check_request(const Vector& v, ByteView payload, Fields& f) {
  Bytes out;
  switch (static_cast<Type>(v.type)) {
    case Type::Send: {
      SendRequest s;
      REQUIRE(decode_send_request(payload, s) == Status::Ok);
      CHECK(s.target == f.num("target"));
      CHECK(s.text == f.str("text"));
      put_send_request(out, s);
      return out;
    }
    case Type::Ping: return check_ping(payload, f);
    case Type::Nick: {
      std::string nick;
      REQUIRE(decode_nick(payload, nick) == Status::Ok);
      CHECK(nick == f.str("nick"));
      put_text(out, nick);
      return out;
    }
    case Type::Ack: {
      std::uint32_t id = 0;
      REQUIRE(decode_u32(payload, id) == Status::Ok);
      CHECK(id == f.num("message_id"));
      put_u32(out, id);
      return out;
    }
    case Type::Subscribe: {
      std::uint8_t flags = 0;
      REQUIRE(decode_u8(payload, flags) == Status::Ok);
      CHECK(flags == f.num("flags"));
      put_u8(out, flags);
      return out;
    }
    case Type::Auth: {
      AuthRequest a;
      REQUIRE(decode_auth(payload, a) == Status::Ok);
      CHECK(a.account == f.str("account"));
      CHECK(a.password == f.str("password"));
      put_auth(out, a);
      return out;
    }
    default: return check_empty(payload);
  }
}

Bytes check_list(const Vector& v, ByteView payload, Fields& f) {
  std::vector<Entry> entries;
  REQUIRE(decode_list_reply(payload, entries) == Status::Ok);
  REQUIRE(v.has_entry_list);
  CHECK(entries.size() == static_cast<std::size_t>(f.num("count")));
  REQUIRE(entries.size() == v.entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) CHECK(entries[i] == entry_of(v.entries[i]));
  Bytes out;
  put_list_reply(out, entries);
  return out;
}

Bytes check_ok_response(const Vector& v, ByteView payload, Fields& f) {
  Bytes out;
  switch (static_cast<Type>(v.type)) {
    case Type::Time: {
      TimeReply t;
      REQUIRE(decode_time_reply(payload, t) == Status::Ok);
      CHECK(t.time_us == f.num("time_us"));
      CHECK(t.utc_offset_s == f.num("utc_offset_s"));
      CHECK(t.zone == f.str("zone"));
      put_time_reply(out, t);
      return out;
    }
    case Type::Name: {
      std::string name;
      REQUIRE(decode_text(payload, name) == Status::Ok);
      CHECK(name == f.str("name"));
      put_text(out, name);
      return out;
    }
    case Type::List: return check_list(v, payload, f);
    case Type::Send: {
      std::uint32_t id = 0;
      REQUIRE(decode_u32(payload, id) == Status::Ok);
      CHECK(id == f.num("message_id"));
      put_u32(out, id);
      return out;
    }
    case Type::Ping: return check_ping(payload, f);
    case Type::Auth: {
      std::string account;
      REQUIRE(decode_auth_reply(payload, account) == Status::Ok);
      CHECK(account == f.str("account"));
      put_auth_reply(out, account);
      return out;
    }
    default: return check_empty(payload);
  }
}

// A second-edition HELLO lists its flags; a first-edition one has no flags
// byte, decodes as flags 0, and re-encodes (put_hello always writes the
// byte) to its own bytes plus exactly one zero byte, which is dropped here
// so that the frame comparison still covers every other byte.
Bytes check_hello(ByteView payload, Fields& f) {
  Hello h;
  REQUIRE(decode_hello(payload, h) == Status::Ok);
  CHECK(h.client_id == f.num("client_id"));
  CHECK(h.heartbeat_s == f.num("heartbeat_s"));
  CHECK(h.idle_timeout_s == f.num("idle_timeout_s"));
  CHECK(h.delivery_timeout_s == f.num("delivery_timeout_s"));
  CHECK(h.max_payload == f.num("max_payload"));
  CHECK(h.server_name == f.str("server_name"));
  const bool first_edition = !f.has("flags");
  CHECK(h.flags == (first_edition ? 0 : f.num("flags")));
  Bytes out;
  put_hello(out, h);
  if (first_edition) {
    REQUIRE(out.size() == payload.size() + 1);
    CHECK(out.back() == 0);
    out.pop_back();
  }
  return out;
}

Bytes check_message(const Vector& v, ByteView payload, Fields& f) {
  Message m;
  REQUIRE(decode_message(payload, m) == Status::Ok);
  CHECK(v.id == f.num("message_id"));
  CHECK(m.sender == f.num("sender"));
  CHECK(m.addr == addr_of(f.str("ip").c_str(), static_cast<std::uint16_t>(f.num("port"))));
  CHECK(m.addr.family == f.num("family"));
  CHECK(m.nick == f.str("nick"));
  CHECK(m.sent_at_us == f.num("sent_at_us"));
  CHECK(m.text == f.str("text"));
  Bytes out;
  put_message(out, m);
  return out;
}

Bytes check_indication(const Vector& v, ByteView payload, Fields& f) {
  Bytes out;
  switch (static_cast<Type>(v.type)) {
    case Type::Hello: return check_hello(payload, f);
    case Type::Message: return check_message(v, payload, f);
    case Type::Presence: {
      Presence p;
      REQUIRE(decode_presence(payload, p) == Status::Ok);
      CHECK(static_cast<int>(p.event) == f.num("event"));
      CHECK(static_cast<int>(p.reason) == f.num("reason"));
      REQUIRE(v.entries.size() == 1);
      CHECK(p.entry == entry_of(v.entries[0]));
      put_presence(out, p);
      return out;
    }
    default: return check_error_payload(v, payload, f);  // SHUTDOWN, ERROR: text
  }
}

Bytes check_payload(const Vector& v, ByteView payload) {
  Fields f(v);
  Bytes out;
  if (v.status != 0) {
    out = check_error_payload(v, payload, f);
  } else if (v.kind == static_cast<std::uint8_t>(Kind::Request)) {
    out = check_request(v, payload, f);
  } else if (v.kind == static_cast<std::uint8_t>(Kind::Response)) {
    out = check_ok_response(v, payload, f);
  } else {
    out = check_indication(v, payload, f);
  }
  f.check_all_used();
  return out;
}

// Feeds `bytes` in the pieces given by `cuts` (ascending offsets) and
// collects every frame, checking that nothing but frames and NeedMore comes
// out.
std::vector<Bytes> decode_split(Role role, const Bytes& bytes, const std::vector<std::size_t>& cuts) {
  FrameDecoder dec(role, kMaxServerPayload);
  std::vector<Bytes> frames;
  std::size_t from = 0;
  auto drain = [&] {
    Frame fr;
    DecodeResult r;
    while ((r = dec.next(fr)) == DecodeResult::Frame) {
      Bytes whole;
      put_header(whole, fr.header);
      whole.insert(whole.end(), fr.payload.begin(), fr.payload.end());
      frames.push_back(std::move(whole));
    }
    CHECK(r == DecodeResult::NeedMore);
  };
  for (std::size_t cut : cuts) {
    dec.feed(ByteView(bytes.data() + from, cut - from));
    drain();
    from = cut;
  }
  dec.feed(ByteView(bytes.data() + from, bytes.size() - from));
  drain();
  CHECK(dec.pending() == 0);
  return frames;
}

}  // namespace

TEST_CASE("the vector file is not empty and names every kind, type and status of both editions") {
  std::set<int> kinds, types, statuses;
  int hellos_with_flags = 0, hellos_without = 0;
  for (const Vector& v : kVectors) {
    kinds.insert(v.kind);
    types.insert(v.type);
    statuses.insert(v.status);
    if (v.type == static_cast<std::uint8_t>(Type::Hello)) {
      const bool flags = std::any_of(v.fields.begin(), v.fields.end(),
                                     [](const VectorField& f) { return std::strcmp(f.key, "flags") == 0; });
      ++(flags ? hellos_with_flags : hellos_without);
    }
  }
  CHECK(kVectors.size() >= 30);
  CHECK(kinds == std::set<int>{1, 2, 3});
  for (int t = 1; t <= 10; ++t) CHECK(types.count(t) == 1);
  for (int t = 64; t <= 68; ++t) CHECK(types.count(t) == 1);
  for (int s : {13, 14, 16, 17}) CHECK(statuses.count(s) == 1);
  CHECK(hellos_with_flags >= 1);
  CHECK(hellos_without >= 1);
}

TEST_CASE("every vector decodes to its fields and re-encodes to its bytes") {
  for (const Vector& v : kVectors) {
    INFO("vector: ", v.name);
    FrameDecoder dec(role_for(v.kind), kMaxServerPayload);
    dec.feed(view(v.bytes));
    Frame fr;
    REQUIRE(dec.next(fr) == DecodeResult::Frame);
    CHECK(fr.header.version == kVersion);
    CHECK(fr.header.kind == v.kind);
    CHECK(fr.header.type == v.type);
    CHECK(fr.header.status == v.status);
    CHECK(fr.header.reserved == 0);
    CHECK(fr.header.id == v.id);
    CHECK(fr.header.length == v.length);
    CHECK(fr.payload.size() == v.length);
    CHECK(dec.next(fr) == DecodeResult::NeedMore);

    FrameDecoder again(role_for(v.kind), kMaxServerPayload);
    again.feed(view(v.bytes));
    REQUIRE(again.next(fr) == DecodeResult::Frame);
    const Bytes payload = check_payload(v, fr.payload);
    Bytes encoded;
    put_frame(encoded, static_cast<Kind>(v.kind), v.type, v.status, v.id, view(payload));
    CHECK(encoded == v.bytes);
  }
}

TEST_CASE("every vector decodes the same when split at any offset") {
  for (const Vector& v : kVectors) {
    INFO("vector: ", v.name);
    for (std::size_t cut = 0; cut <= v.bytes.size(); ++cut) {
      INFO("split at ", cut);
      const auto frames = decode_split(role_for(v.kind), v.bytes, {cut});
      REQUIRE(frames.size() == 1);
      CHECK(frames[0] == v.bytes);
    }
  }
}

TEST_CASE("every vector decodes the same fed byte by byte") {
  for (const Vector& v : kVectors) {
    INFO("vector: ", v.name);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < v.bytes.size(); ++i) cuts.push_back(i);
    const auto frames = decode_split(role_for(v.kind), v.bytes, cuts);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0] == v.bytes);
  }
}

TEST_CASE("all vectors of one direction concatenated decode in one feed") {
  for (const Role role : {Role::Server, Role::Client}) {
    Bytes stream;
    std::vector<Bytes> expected;
    for (const Vector& v : kVectors) {
      if (role_for(v.kind) != role) continue;
      stream.insert(stream.end(), v.bytes.begin(), v.bytes.end());
      expected.push_back(v.bytes);
    }
    REQUIRE(!expected.empty());
    CHECK(decode_split(role, stream, {}) == expected);
  }
}

}  // namespace sc::test
