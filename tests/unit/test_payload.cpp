// Payload codecs: round trips, truncations, trailing bytes, invalid UTF-8,
// nick rules, field range checks; encoders, names and address formatting.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "common/codec.hpp"
#include "common/protocol.hpp"
#include "helpers.hpp"

namespace sc::test {
namespace {

// UTF-8 encoding of one code point (valid or not: surrogates are encoded
// as they would be, to build invalid input on purpose).
std::string utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Malformed UTF-8: overlongs, surrogates, above U+10FFFF, truncated and
// stray bytes.
const std::vector<std::string> kInvalidUtf8 = {
    "\xC0\xAF",          // overlong '/'
    "\xC1\xBF",          // overlong U+007F
    "\xE0\x80\xAF",      // overlong, 3 bytes
    "\xE0\x9F\xBF",      // overlong U+07FF
    "\xF0\x80\x80\xAF",  // overlong, 4 bytes
    "\xF0\x8F\xBF\xBF",  // overlong U+FFFF
    "\xED\xA0\x80",      // U+D800, high surrogate
    "\xED\xBF\xBF",      // U+DFFF, low surrogate
    "\xF4\x90\x80\x80",  // U+110000
    "\xF5\x80\x80\x80",  // lead byte above F4
    "\xF8\x88\x80\x80\x80",
    "\xFE",
    "\xFF",
    "\x80",              // stray continuation
    "a\xBF",
    "\xE4\xBD",          // truncated 3-byte sequence
    "\xF0\x9F\x98",      // truncated 4-byte sequence
    "\xC3",              // truncated 2-byte sequence
    "\xC3(",             // lead byte followed by a non-continuation
};

// Well-formed boundary code points.
const std::vector<std::string> kValidUtf8 = {
    "", "a", "\x7F", utf8(0x80), utf8(0x7FF), utf8(0x800), utf8(0xD7FF), utf8(0xE000),
    utf8(0xFFFD), utf8(0xFFFF), utf8(0x10000), utf8(0x10FFFF), "hi \xE4\xBD\xA0\xE5\xA5\xBD",
};

using Decoder = std::function<Status(ByteView, std::string_view*)>;

Status expect_bad(const Decoder& decode, const Bytes& p) {
  std::string_view why;
  const Status s = decode(view(p), &why);
  CHECK(s == Status::BadRequest);
  CHECK(!why.empty());
  return s;
}

// Every strict prefix of `p` that is shorter than `min_valid` is rejected.
void check_truncations(const Decoder& decode, const Bytes& p, std::size_t min_valid) {
  REQUIRE(decode(view(p), nullptr) == Status::Ok);
  for (std::size_t n = 0; n < std::min(min_valid, p.size()); ++n) {
    INFO("truncated to ", n, " of ", p.size(), " bytes");
    expect_bad(decode, Bytes(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n)));
  }
}

void check_trailing_byte(const Decoder& decode, Bytes p) {
  p.push_back(0);
  std::string_view why;
  CHECK(decode(view(p), &why) == Status::BadRequest);
  CHECK(why == "trailing bytes");
}

// Replaces a string field with each invalid sequence (via `encode`) and
// expects BadRequest "invalid UTF-8", and accepts each valid one.
void check_utf8_field(const Decoder& decode, const std::function<Bytes(const std::string&)>& encode,
                      bool empty_ok = true) {
  for (const std::string& bad : kInvalidUtf8) {
    INFO("invalid UTF-8 of ", bad.size(), " bytes");
    std::string_view why;
    CHECK(decode(view(encode(bad)), &why) == Status::BadRequest);
    CHECK(why == "invalid UTF-8");
  }
  for (const std::string& good : kValidUtf8) {
    if (good.empty() && !empty_ok) continue;
    CHECK(decode(view(encode(good)), nullptr) == Status::Ok);
  }
}

Entry sample_entry(std::uint32_t id, const char* ip, std::uint16_t port, std::string nick) {
  return Entry{id, addr_of(ip, port), -1234567890123LL, std::move(nick)};
}

Hello sample_hello() { return Hello{7, 10, 30, 5, 65536, "lab-server", kHelloClustered}; }

Message sample_message() {
  return Message{7, addr_of("2001:db8::5", 40000), "alice", 1795665601123456LL, "hi \xE4\xBD\xA0"};
}

template <class T, class Put>
Bytes encode(const T& v, Put put) {
  Bytes out;
  put(out, v);
  return out;
}

Decoder hello_decoder() {
  return [](ByteView p, std::string_view* why) { Hello v; return decode_hello(p, v, why); };
}
Decoder time_decoder() {
  return [](ByteView p, std::string_view* why) { TimeReply v; return decode_time_reply(p, v, why); };
}
Decoder list_decoder() {
  return [](ByteView p, std::string_view* why) {
    std::vector<Entry> v;
    return decode_list_reply(p, v, why);
  };
}
Decoder send_decoder() {
  return [](ByteView p, std::string_view* why) { SendRequest v; return decode_send_request(p, v, why); };
}
Decoder message_decoder() {
  return [](ByteView p, std::string_view* why) { Message v; return decode_message(p, v, why); };
}
Decoder presence_decoder() {
  return [](ByteView p, std::string_view* why) { Presence v; return decode_presence(p, v, why); };
}
Decoder auth_reply_decoder() {
  return [](ByteView p, std::string_view* why) { std::string v; return decode_auth_reply(p, v, why); };
}
Decoder not_delivered_decoder() {
  return [](ByteView p, std::string_view* why) { NotDelivered v; return decode_not_delivered(p, v, why); };
}

}  // namespace

// ---------------------------------------------------------------------------
// Round trips, truncations and trailing bytes, one codec at a time.

TEST_CASE("HELLO round trip, truncation, invalid UTF-8") {
  const Hello h = sample_hello();
  const Bytes p = encode(h, put_hello);
  CHECK(p.size() == 4 + 2 + 2 + 2 + 4 + 1 + h.server_name.size() + 1);
  CHECK(p.back() == kHelloClustered);
  Hello back;
  REQUIRE(decode_hello(view(p), back) == Status::Ok);
  CHECK(back == h);
  // Every prefix that cuts into a first-edition field is short.
  check_truncations(hello_decoder(), p, p.size() - 1);
  check_utf8_field(hello_decoder(), [](const std::string& s) {
    Hello v = sample_hello();
    v.server_name = s;
    return encode(v, put_hello);
  });
}

TEST_CASE("HELLO flags: every value round-trips, the named bits are distinct") {
  CHECK(kHelloSignInRequired == 0x01);
  CHECK(kHelloEncrypted == 0x02);
  CHECK(kHelloClustered == 0x04);
  for (int f = 0; f < 256; ++f) {
    INFO("flags ", f);
    Hello h = sample_hello();
    h.flags = static_cast<std::uint8_t>(f);  // unknown bits are kept, not refused
    Hello back;
    REQUIRE(decode_hello(view(encode(h, put_hello)), back) == Status::Ok);
    CHECK(back == h);
  }
}

TEST_CASE("HELLO first edition: no flags byte decodes as flags 0") {
  Hello h = sample_hello();
  h.flags = kHelloSignInRequired | kHelloEncrypted;
  Bytes p = encode(h, put_hello);
  p.pop_back();  // what a first-edition server sends
  Hello back;
  back.flags = 0xFF;  // must be reset, not left over
  REQUIRE(decode_hello(view(p), back) == Status::Ok);
  CHECK(back.flags == 0);
  h.flags = 0;
  CHECK(back == h);
  // ... and encodes to the second edition: the same bytes plus a zero flags byte.
  Bytes again = encode(back, put_hello);
  CHECK(again.size() == p.size() + 1);
  CHECK(again.back() == 0);
  again.pop_back();
  CHECK(again == p);
}

TEST_CASE("HELLO: bytes after the flags are ignored (a later edition's fields)") {
  const Hello h = sample_hello();
  for (const Bytes& extra : {Bytes{0}, Bytes{0xFF, 0x01}, Bytes(300, 0xAB), bytes_of("\xC3")}) {
    INFO("extra bytes: ", extra.size());
    Bytes p = encode(h, put_hello);
    p.insert(p.end(), extra.begin(), extra.end());
    Hello back;
    std::string_view why;
    REQUIRE(decode_hello(view(p), back, &why) == Status::Ok);
    CHECK(back == h);
  }
}

TEST_CASE("TIME reply round trip with negative values, truncation, trailing byte") {
  const TimeReply t{-1795665601123456LL, -5 * 3600 - 1800, "NST"};
  const Bytes p = encode(t, put_time_reply);
  TimeReply back;
  REQUIRE(decode_time_reply(view(p), back) == Status::Ok);
  CHECK(back == t);
  const TimeReply extremes{INT64_MIN, INT32_MAX, std::string(255, 'Z')};
  REQUIRE(decode_time_reply(view(encode(extremes, put_time_reply)), back) == Status::Ok);
  CHECK(back == extremes);
  check_truncations(time_decoder(), p, p.size());
  check_trailing_byte(time_decoder(), p);
  check_utf8_field(time_decoder(), [](const std::string& s) {
    return encode(TimeReply{0, 0, s}, put_time_reply);
  });
}

TEST_CASE("LIST reply round trip: empty, IPv4 and IPv6 entries") {
  std::vector<Entry> back;
  const Bytes empty = encode(std::vector<Entry>{}, put_list_reply);
  CHECK(empty == Bytes{0, 0, 0, 0});
  REQUIRE(decode_list_reply(view(empty), back) == Status::Ok);
  CHECK(back.empty());

  const std::vector<Entry> entries = {sample_entry(1, "10.0.0.1", 1, ""),
                                      sample_entry(2, "2001:db8::5", 65535, "bob"),
                                      sample_entry(3, "::1", 2555, std::string(32, 'n'))};
  const Bytes p = encode(entries, put_list_reply);
  REQUIRE(decode_list_reply(view(p), back) == Status::Ok);
  CHECK(back == entries);
  check_truncations(list_decoder(), p, p.size());
  check_trailing_byte(list_decoder(), p);
  for (const std::string& bad : kInvalidUtf8)  // the nick is the entry's only text
    expect_bad(list_decoder(), encode(std::vector<Entry>{sample_entry(1, "10.0.0.1", 1, bad)},
                                      put_list_reply));
}

TEST_CASE("LIST reply: a count beyond the payload is refused without allocating for it") {
  Bytes p;
  put_u32(p, 0xFFFFFFFFu);
  put_entry(p, sample_entry(1, "10.0.0.1", 1, "a"));
  std::vector<Entry> back;
  std::string_view why;
  CHECK(decode_list_reply(view(p), back, &why) == Status::BadRequest);
  CHECK(why == "payload too short");
  // Count 2 with one entry: short, too.
  p.clear();
  put_u32(p, 2);
  put_entry(p, sample_entry(1, "10.0.0.1", 1, "a"));
  CHECK(decode_list_reply(view(p), back) == Status::BadRequest);
}

TEST_CASE("LIST reply: entry with a bad nick or a bad address family") {
  Bytes p;
  put_u32(p, 1);
  put_entry(p, sample_entry(1, "10.0.0.1", 1, "a b"));
  std::vector<Entry> back;
  std::string_view why;
  CHECK(decode_list_reply(view(p), back, &why) == Status::BadRequest);
  CHECK(why == "nick contains whitespace");
  p[4 + 4] = 5;  // the family byte of the first entry
  CHECK(decode_list_reply(view(p), back, &why) == Status::BadRequest);
  CHECK(why == "bad address family");
}

TEST_CASE("SEND request round trip; the message must be 1+ bytes of UTF-8") {
  const SendRequest s{0xDEADBEEF, "hi \xE4\xBD\xA0\xE5\xA5\xBD"};
  const Bytes p = encode(s, put_send_request);
  SendRequest back;
  REQUIRE(decode_send_request(view(p), back) == Status::Ok);
  CHECK(back == s);
  check_truncations(send_decoder(), p, 5);
  std::string_view why;
  CHECK(decode_send_request(view(encode(SendRequest{9, ""}, put_send_request)), back, &why) ==
        Status::BadRequest);
  CHECK(why == "empty message");
  check_utf8_field(
      send_decoder(), [](const std::string& t) { return encode(SendRequest{9, t}, put_send_request); },
      false);
}

TEST_CASE("MESSAGE round trip, truncation, bad family, invalid UTF-8 in nick and text") {
  const Message m = sample_message();
  const Bytes p = encode(m, put_message);
  Message back;
  REQUIRE(decode_message(view(p), back) == Status::Ok);
  CHECK(back == m);
  const Message v4{1, addr_of("127.0.0.1", 51234), "", 0, ""};  // empty nick and text allowed
  REQUIRE(decode_message(view(encode(v4, put_message)), back) == Status::Ok);
  CHECK(back == v4);
  const std::size_t fixed = 4 + 1 + 16 + 2 + 1 + m.nick.size() + 8;
  check_truncations(message_decoder(), p, fixed);
  Bytes bad_family = p;
  bad_family[4] = 0;
  expect_bad(message_decoder(), bad_family);
  check_utf8_field(message_decoder(), [](const std::string& t) {
    Message v = sample_message();
    v.text = t;
    return encode(v, put_message);
  });
  for (const std::string& bad : kInvalidUtf8) {
    Message v = sample_message();
    v.nick = bad;
    expect_bad(message_decoder(), encode(v, put_message));
  }
}

TEST_CASE("PRESENCE round trip for every valid event and reason") {
  const Entry e = sample_entry(9, "2001:db8::5", 40000, "");
  for (auto ev : {PresenceEvent::Joined, PresenceEvent::Renamed}) {
    const Presence pr{ev, LeaveReason::Bye, e};
    Presence back;
    REQUIRE(decode_presence(view(encode(pr, put_presence)), back) == Status::Ok);
    CHECK(back == pr);
  }
  for (int r = 0; r <= 6; ++r) {
    const Presence pr{PresenceEvent::Left, static_cast<LeaveReason>(r), e};
    Presence back;
    REQUIRE(decode_presence(view(encode(pr, put_presence)), back) == Status::Ok);
    CHECK(back == pr);
  }
  const Bytes p = encode(Presence{PresenceEvent::Left, LeaveReason::IdleTimeout, e}, put_presence);
  check_truncations(presence_decoder(), p, p.size());
  check_trailing_byte(presence_decoder(), p);
}

TEST_CASE("PRESENCE: event out of range, reason on JOINED/RENAMED, reason above 5") {
  const Entry e = sample_entry(9, "10.1.2.3", 4, "x");
  auto with = [&](std::uint8_t event, std::uint8_t reason) {
    Bytes p = encode(Presence{PresenceEvent::Joined, LeaveReason::Bye, e}, put_presence);
    p[0] = event;
    p[1] = reason;
    return p;
  };
  std::string_view why;
  Presence back;
  for (std::uint8_t ev : {0, 4, 255}) {
    CHECK(decode_presence(view(with(ev, 0)), back, &why) == Status::BadRequest);
    CHECK(why == "bad presence event");
  }
  for (std::uint8_t ev : {1, 3}) {
    CHECK(decode_presence(view(with(ev, 1)), back, &why) == Status::BadRequest);
    CHECK(why == "bad leave reason");
  }
  CHECK(decode_presence(view(with(2, 7)), back, &why) == Status::BadRequest);
  CHECK(why == "bad leave reason");
  CHECK(decode_presence(view(with(2, 5)), back) == Status::Ok);
  CHECK(decode_presence(view(with(2, 6)), back) == Status::Ok);  // NODE_DOWN, second edition
}

TEST_CASE("AUTH request round trip; the password is the rest of the payload") {
  const AuthRequest a{"alice", "correct horse"};
  const Bytes p = encode(a, put_auth);
  CHECK(p == bytes_of("\x05" "alicecorrect horse"));
  AuthRequest back;
  REQUIRE(decode_auth(view(p), back) == Status::Ok);
  CHECK(back == a);
  // Any valid UTF-8 of 1..255 bytes is a password, spaces and controls too.
  for (const std::string& pw : {std::string("x"), std::string(255, 'p'), std::string("a b\tc"),
                                 utf8(0x10FFFF) + utf8(0x674E), std::string(1, '\0')}) {
    INFO("password of ", pw.size(), " bytes");
    const AuthRequest v{std::string(32, 'n'), pw};
    REQUIRE(decode_auth(view(encode(v, put_auth)), back) == Status::Ok);
    CHECK(back == v);
  }
}

TEST_CASE("AUTH request: each BAD_REQUEST reason") {
  auto why_of = [](const Bytes& p) {
    AuthRequest v;
    std::string_view why;
    CHECK(decode_auth(view(p), v, &why) == Status::BadRequest);
    return std::string(why);
  };
  auto auth = [](const std::string& account, const std::string& password) {
    Bytes p;
    put_u8(p, static_cast<std::uint8_t>(account.size()));
    put_text(p, account);
    put_text(p, password);
    return p;
  };
  CHECK(why_of({}) == "payload too short");
  CHECK(why_of(bytes_of("\x06" "alice")) == "payload too short");
  CHECK(why_of(auth("alice", "")) == "password is empty");
  CHECK(why_of(auth("alice", std::string(256, 'p'))) == "password is longer than 255 bytes");
  CHECK(why_of(auth("", "pw")) == "account name is empty");
  CHECK(why_of(auth(std::string(33, 'a'), "pw")) == "account name is longer than 32 bytes");
  CHECK(why_of(auth("al ice", "pw")) == "account name contains whitespace");
  CHECK(why_of(auth("al" + utf8(0x3000), "pw")) == "account name contains whitespace");
  CHECK(why_of(auth("al\x1b", "pw")) == "account name contains a control character");
  for (const std::string& bad : kInvalidUtf8) {
    INFO("invalid UTF-8 of ", bad.size(), " bytes");
    CHECK(why_of(auth("a" + bad, "pw")) == "account name is not valid UTF-8");
    CHECK(why_of(auth("alice", "pw" + bad)) == "password is not valid UTF-8");
  }
  // The account is checked first: an empty account with an empty password.
  CHECK(why_of(auth("", "")) == "account name is empty");
}

TEST_CASE("AUTH request: truncations are short; the decoded value is untouched on failure") {
  const Bytes p = encode(AuthRequest{"bob", "pw"}, put_auth);
  for (std::size_t n = 0; n < 4; ++n) {
    INFO("truncated to ", n);
    std::string_view why;
    AuthRequest v;
    CHECK(decode_auth(view(Bytes(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(n))), v, &why) ==
          Status::BadRequest);
    CHECK(why == "payload too short");
  }
  AuthRequest v{"keep", "keep"};
  CHECK(decode_auth(view(bytes_of("\x03" "bob")), v) == Status::BadRequest);  // no password
  CHECK(v.password == "keep");
}

TEST_CASE("AUTH response: str8 account name by the nick rules, nothing after it") {
  Bytes p;
  put_auth_reply(p, "alice");
  CHECK(p == bytes_of("\x05" "alice"));
  std::string account;
  REQUIRE(decode_auth_reply(view(p), account) == Status::Ok);
  CHECK(account == "alice");
  check_truncations(auth_reply_decoder(), p, p.size());
  check_trailing_byte(auth_reply_decoder(), p);
  std::string_view why;
  CHECK(decode_auth_reply(view(bytes_of(std::string_view("\x00", 1))), account, &why) == Status::BadRequest);
  CHECK(why == "account name is empty");
  CHECK(decode_auth_reply(view(bytes_of("\x03" "a b")), account, &why) == Status::BadRequest);
  CHECK(why == "account name contains whitespace");
  CHECK(decode_auth_reply(view(bytes_of("\x02" "a\xff")), account, &why) == Status::BadRequest);
  CHECK(why == "account name is not valid UTF-8");
}

TEST_CASE("check_account: the nick rules, in the account's words") {
  std::string_view why;
  CHECK(check_account(std::string(32, 'a')) == Status::Ok);
  CHECK(check_account(utf8(0x674E) + utf8(0x4E91)) == Status::Ok);
  for (const std::string& name : {std::string(""), std::string(33, 'a'), std::string("a\x7f"),
                                   std::string("a\xc0\xaf"), std::string("a").append(utf8(0x2028))}) {
    INFO("name of ", name.size(), " bytes");
    std::string_view nick_why;
    REQUIRE(check_nick(name, &nick_why) == Status::BadRequest);
    REQUIRE(check_account(name, &why) == Status::BadRequest);
    CHECK(std::string("account name") + std::string(nick_why.substr(4)) == std::string(why));
  }
}

TEST_CASE("NOT_DELIVERED round trip, truncation, invalid UTF-8") {
  const NotDelivered nd{1002, "no acknowledgement within 5 s"};
  const Bytes p = encode(nd, put_not_delivered);
  NotDelivered back;
  REQUIRE(decode_not_delivered(view(p), back) == Status::Ok);
  CHECK(back == nd);
  check_truncations(not_delivered_decoder(), p, 4);
  check_utf8_field(not_delivered_decoder(), [](const std::string& t) {
    return encode(NotDelivered{1, t}, put_not_delivered);
  });
}

TEST_CASE("u32 and u8 payloads: exact length only") {
  std::uint32_t v32 = 0;
  Bytes p;
  put_u32(p, 0x01020304);
  REQUIRE(decode_u32(view(p), v32) == Status::Ok);
  CHECK(v32 == 0x01020304);
  const Decoder d32 = [](ByteView b, std::string_view* why) {
    std::uint32_t v;
    return decode_u32(b, v, why);
  };
  check_truncations(d32, p, 4);
  check_trailing_byte(d32, p);

  std::uint8_t v8 = 0;
  REQUIRE(decode_u8(view(Bytes{kSubscribePresence}), v8) == Status::Ok);
  CHECK(v8 == kSubscribePresence);
  const Decoder d8 = [](ByteView b, std::string_view* why) {
    std::uint8_t v;
    return decode_u8(b, v, why);
  };
  check_truncations(d8, Bytes{1}, 1);
  check_trailing_byte(d8, Bytes{1});
}

TEST_CASE("text payloads: any valid UTF-8, empty included") {
  std::string out;
  CHECK(decode_text(view(std::string_view("server is shutting down")), out) == Status::Ok);
  CHECK(out == "server is shutting down");
  const Decoder d = [](ByteView b, std::string_view* why) {
    std::string v;
    return decode_text(b, v, why);
  };
  check_utf8_field(d, [](const std::string& s) { return bytes_of(s); });
}

// ---------------------------------------------------------------------------
// UTF-8 and nick rules.

TEST_CASE("valid_utf8 accepts boundaries and refuses every malformed form") {
  for (const std::string& s : kValidUtf8) CHECK(valid_utf8(s));
  for (const std::string& s : kInvalidUtf8) CHECK_FALSE(valid_utf8(s));
  // Every surrogate, and the first values past the end of Unicode.
  for (char32_t cp = 0xD800; cp <= 0xDFFF; cp += 0x7F) CHECK_FALSE(valid_utf8(utf8(cp)));
  CHECK_FALSE(valid_utf8(utf8(0xDFFF)));
  CHECK_FALSE(valid_utf8(utf8(0x110000)));
  CHECK_FALSE(valid_utf8(utf8(0x1FFFFF)));
}

TEST_CASE("nick: length limits in bytes") {
  std::string_view why;
  CHECK(check_nick("", &why) == Status::BadRequest);
  CHECK(why == "nick is empty");
  CHECK(check_nick(std::string(32, 'a')) == Status::Ok);
  CHECK(check_nick(std::string(33, 'a'), &why) == Status::BadRequest);
  CHECK(why == "nick is longer than 32 bytes");
  std::string cjk;
  for (int i = 0; i < 10; ++i) cjk += utf8(0x674E);  // 30 bytes
  CHECK(check_nick(cjk) == Status::Ok);
  CHECK(check_nick(cjk + "ab") == Status::Ok);
  CHECK(check_nick(cjk + utf8(0x674E), &why) == Status::BadRequest);
  CHECK(why == "nick is longer than 32 bytes");
}

TEST_CASE("nick: every Unicode White_Space code point is refused") {
  const char32_t spaces[] = {0x20,   0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
                             0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028,
                             0x2029, 0x202F, 0x205F, 0x3000};
  for (char32_t cp : spaces) {
    INFO("code point ", static_cast<unsigned>(cp));
    std::string_view why;
    CHECK(check_nick(std::string("a").append(utf8(cp)).append("b"), &why) == Status::BadRequest);
    // U+0085 is both C1 control and White_Space.
    CHECK((why == "nick contains whitespace" || (cp == 0x85 && why == "nick contains a control character")));
  }
  // Not White_Space: zero width space, Mongolian vowel separator, ideographic full stop.
  for (char32_t cp : {0x200B, 0x180E, 0x3002}) CHECK(check_nick(std::string("a").append(utf8(cp))) == Status::Ok);
}

TEST_CASE("nick: every C0, DEL and C1 control is refused") {
  std::vector<char32_t> controls;
  for (char32_t cp = 0; cp < 0x20; ++cp) controls.push_back(cp);
  for (char32_t cp = 0x7F; cp <= 0x9F; ++cp) controls.push_back(cp);
  for (char32_t cp : controls) {
    INFO("code point ", static_cast<unsigned>(cp));
    std::string_view why;
    CHECK(check_nick(std::string("x").append(utf8(cp)), &why) == Status::BadRequest);
    CHECK(why == "nick contains a control character");
  }
  CHECK(check_nick(std::string("x").append(utf8(0xA1))) == Status::Ok);
}

TEST_CASE("nick: invalid UTF-8 is refused, and decode_nick applies the same rules") {
  for (const std::string& bad : kInvalidUtf8) {
    std::string_view why;
    CHECK(check_nick("n" + bad, &why) == Status::BadRequest);
    CHECK(why == "nick is not valid UTF-8");
  }
  std::string out = "unchanged";
  std::string_view why;
  CHECK(decode_nick(view(std::string_view("a b")), out, &why) == Status::BadRequest);
  CHECK(why == "nick contains whitespace");
  CHECK(out == "unchanged");
  const std::string li = utf8(0x674E) + utf8(0x4E91) + utf8(0x5E06);
  CHECK(decode_nick(view(li), out) == Status::Ok);
  CHECK(out == li);
}

// ---------------------------------------------------------------------------
// Encoders, names, addresses.

TEST_CASE("begin_frame/end_frame build the same bytes as put_frame") {
  Bytes a, b;
  Bytes payload;
  put_send_request(payload, SendRequest{9, "hi"});
  put_frame(a, Kind::Request, static_cast<std::uint8_t>(Type::Send), 0, 4, view(payload));
  const std::size_t at = begin_frame(b, Kind::Request, static_cast<std::uint8_t>(Type::Send), 0, 4);
  put_send_request(b, SendRequest{9, "hi"});
  end_frame(b, at);
  CHECK(a == b);
  CHECK(a == Bytes{0x53, 0x43, 1, 1, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0, 9, 'h', 'i'});
  // A second frame appended after the first patches its own length only.
  const std::size_t at2 = begin_frame(b, Kind::Request, 5, 0, 5);
  put_text(b, "abc");
  end_frame(b, at2);
  CHECK(Bytes(b.begin(), b.begin() + 22) == a);
  CHECK(b[at2 + 15] == 3);
}

TEST_CASE("integers are big-endian") {
  Bytes out;
  put_u16(out, 0x0102);
  put_u32(out, 0x03040506);
  put_i32(out, -2);
  put_i64(out, -2);
  CHECK(out == Bytes{1, 2, 3, 4, 5, 6, 0xFF, 0xFF, 0xFF, 0xFE,
                     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE});
  Header h;
  h.kind = 2;
  h.type = 3;
  h.status = 4;
  h.reserved = 0x0506;
  h.id = 0x0708090A;
  h.length = 0x0B0C0D0E;
  out.clear();
  put_header(out, h);
  CHECK(out == Bytes{0x53, 0x43, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
}

TEST_CASE("format_addr and format_ip") {
  CHECK(format_addr(addr_of("127.0.0.1", 51234)) == "127.0.0.1:51234");
  CHECK(format_addr(addr_of("2001:db8::5", 40000)) == "[2001:db8::5]:40000");
  CHECK(format_addr(addr_of("::1", 0)) == "[::1]:0");
  CHECK(format_ip(addr_of("2001:db8::5", 40000)) == "2001:db8::5");
  CHECK(format_ip(addr_of("10.20.30.40", 1)) == "10.20.30.40");
  Addr bad;
  bad.family = 5;
  CHECK(format_ip(bad) == "?");
}

TEST_CASE("names of kinds, types, statuses and leave reasons") {
  CHECK(std::string_view(kind_name(1)) == "REQUEST");
  CHECK(std::string_view(kind_name(3)) == "INDICATION");
  CHECK(std::string_view(kind_name(9)) == "?");
  CHECK(std::string_view(type_name(1)) == "TIME");
  CHECK(std::string_view(type_name(9)) == "BYE");
  CHECK(std::string_view(type_name(10)) == "AUTH");
  CHECK(std::string_view(type_name(68)) == "ERROR");
  CHECK(std::string_view(type_name(200)) == "?");
  CHECK(std::string_view(status_name(4)) == "NOT_DELIVERED");
  CHECK(std::string_view(status_name(255)) == "INTERNAL");
  CHECK(std::string_view(status_name(13)) == "AUTH_REQUIRED");
  CHECK(std::string_view(status_name(16)) == "NICK_IN_USE");
  CHECK(std::string_view(status_name(17)) == "TOO_MANY_CONNECTIONS");
  CHECK(std::string_view(status_name(18)) == "?");
  CHECK(std::string_view(leave_reason_name(2)) == "IDLE_TIMEOUT");
  CHECK(std::string_view(leave_reason_name(6)) == "NODE_DOWN");
  CHECK(std::string_view(leave_reason_name(7)) == "?");
  for (int t = 0; t < 256; ++t) {
    INFO("type ", t);
    CHECK(is_request_type(static_cast<std::uint8_t>(t)) == (t >= 1 && t <= 10));
    CHECK(is_indication_type(static_cast<std::uint8_t>(t)) == (t >= 64 && t <= 68));
    const bool named = std::string_view(type_name(static_cast<std::uint8_t>(t))) != "?";
    CHECK(named == (is_request_type(static_cast<std::uint8_t>(t)) ||
                    is_indication_type(static_cast<std::uint8_t>(t))));
  }
}

TEST_CASE("is_loopback: 127/8, ::1 and IPv4-mapped 127/8 only") {
  for (const char* ip : {"127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"}) {
    INFO(ip);
    CHECK(is_loopback(addr_of(ip, 1)));
  }
  for (const char* ip : {"128.0.0.1", "10.0.0.1", "0.0.0.0", "::", "::2", "::ffff:10.0.0.1",
                         "fe80::1", "2001:db8::1", "::127.0.0.1"}) {
    INFO(ip);
    CHECK(!is_loopback(addr_of(ip, 1)));
  }
}

}  // namespace sc::test
