// Payload decoder targets.  Every decoder must either refuse the input with
// BAD_REQUEST and a reason, or accept it and hand back a value that encodes
// to exactly the input bytes (the protocol has one encoding per value, so a
// decoder that accepts anything else is lenient or lossy) and decodes again
// to the same value.  HELLO is the exception the protocol makes on purpose:
// its flags byte may be missing and bytes after it are ignored (hello()).
#include <algorithm>
#include <string>
#include <vector>

#include "common/codec.hpp"
#include "invariants.hpp"
#include "targets.hpp"

namespace sc::fuzz {

namespace {

std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Decodes `p`; returns whether it was accepted, the value in `out`.
template <class T, class Decode, class Encode>
bool round_trip(ByteView p, T& out, Decode decode, Encode encode) {
  std::string_view why;
  const Status s = decode(p, out, &why);
  T quiet{};
  FUZZ_REQUIRE(decode(p, quiet, nullptr) == s);  // *why is optional
  if (s != Status::Ok) {
    FUZZ_REQUIRE(s == Status::BadRequest);
    FUZZ_REQUIRE(!why.empty());
    return false;
  }
  FUZZ_REQUIRE(quiet == out);
  Bytes again;
  encode(again, out);
  FUZZ_REQUIRE(std::equal(again.begin(), again.end(), p.begin(), p.end()));
  T twice{};
  FUZZ_REQUIRE(decode(again, twice, nullptr) == Status::Ok && twice == out);
  return true;
}

// A nick carried by a peer (entry, MESSAGE): never set, or a valid one.
bool peer_nick_ok(const std::string& nick) { return nick.empty() || reference_nick(nick); }

ByteView view(const std::uint8_t* data, std::size_t size) { return {data, size}; }

// One structured payload target: the round trip, then what an accepted
// value must also satisfy.
template <class T, class Decode, class Encode, class Valid>
int check_payload(const std::uint8_t* data, std::size_t size, Decode decode, Encode encode,
                  Valid valid) {
  T v{};
  if (round_trip(view(data, size), v, decode, encode)) FUZZ_REQUIRE(valid(v));
  return 0;
}

}  // namespace

// HELLO accepts three shapes of one value: the first-edition fields alone
// (flags 0), those plus the flags byte (exactly put_hello's bytes), and that
// plus any bytes of a later edition.
int hello(const std::uint8_t* data, std::size_t size) {
  const ByteView p = view(data, size);
  Hello v{};
  std::string_view why;
  const Status s = decode_hello(p, v, &why);
  Hello quiet{};
  quiet.flags = 0xFF;  // a missing flags byte must reset it, not leave it
  FUZZ_REQUIRE(decode_hello(p, quiet, nullptr) == s);
  if (s != Status::Ok) {
    FUZZ_REQUIRE(s == Status::BadRequest && !why.empty());
    return 0;
  }
  FUZZ_REQUIRE(quiet == v);
  FUZZ_REQUIRE(reference_utf8(v.server_name));
  Bytes enc;
  put_hello(enc, v);
  const std::size_t first_edition = enc.size() - 1;
  FUZZ_REQUIRE(size >= first_edition && std::equal(enc.begin(), enc.end() - 1, p.begin()));
  FUZZ_REQUIRE(size == first_edition ? v.flags == 0 : p[first_edition] == v.flags);
  Hello twice{};
  FUZZ_REQUIRE(decode_hello(enc, twice, nullptr) == Status::Ok && twice == v);
  Hello first{};
  FUZZ_REQUIRE(decode_hello(p.first(first_edition), first, nullptr) == Status::Ok);
  first.flags = v.flags;
  FUZZ_REQUIRE(first == v);
  return 0;
}

int time_reply(const std::uint8_t* data, std::size_t size) {
  return check_payload<TimeReply>(data, size, decode_time_reply, put_time_reply,
                                  [](const TimeReply& v) { return reference_utf8(v.zone); });
}

int list_reply(const std::uint8_t* data, std::size_t size) {
  return check_payload<std::vector<Entry>>(
      data, size, decode_list_reply, put_list_reply, [](const std::vector<Entry>& v) {
        return std::all_of(v.begin(), v.end(), [](const Entry& e) { return peer_nick_ok(e.nick); });
      });
}

int send_request(const std::uint8_t* data, std::size_t size) {
  return check_payload<SendRequest>(
      data, size, decode_send_request, put_send_request,
      [](const SendRequest& v) { return !v.text.empty() && reference_utf8(v.text); });
}

int message(const std::uint8_t* data, std::size_t size) {
  return check_payload<Message>(data, size, decode_message, put_message, [](const Message& v) {
    return peer_nick_ok(v.nick) && reference_utf8(v.text);
  });
}

// Only LEFT carries a reason.
int presence(const std::uint8_t* data, std::size_t size) {
  return check_payload<Presence>(data, size, decode_presence, put_presence, [](const Presence& v) {
    return (v.event == PresenceEvent::Left || v.reason == LeaveReason::Bye) &&
           peer_nick_ok(v.entry.nick);
  });
}

int not_delivered(const std::uint8_t* data, std::size_t size) {
  return check_payload<NotDelivered>(data, size, decode_not_delivered, put_not_delivered,
                                     [](const NotDelivered& v) { return reference_utf8(v.text); });
}

int u32(const std::uint8_t* data, std::size_t size) {
  std::uint32_t v = 0;
  const bool ok = round_trip(view(data, size), v, decode_u32, put_u32);
  FUZZ_REQUIRE(ok == (size == 4));
  return 0;
}

int u8(const std::uint8_t* data, std::size_t size) {
  std::uint8_t v = 0;
  const bool ok = round_trip(view(data, size), v, decode_u8, put_u8);
  FUZZ_REQUIRE(ok == (size == 1));
  return 0;
}

int auth(const std::uint8_t* data, std::size_t size) {
  return check_payload<AuthRequest>(data, size, decode_auth, put_auth, [](const AuthRequest& v) {
    return reference_nick(v.account) && !v.password.empty() &&
           v.password.size() <= kMaxPasswordBytes && reference_utf8(v.password);
  });
}

int auth_reply(const std::uint8_t* data, std::size_t size) {
  return check_payload<std::string>(
      data, size, decode_auth_reply,
      [](Bytes& out, const std::string& account) { put_auth_reply(out, account); },
      [](const std::string& account) { return reference_nick(account); });
}

// `text` payloads and the UTF-8 check under them, against the reference.
int text(const std::uint8_t* data, std::size_t size) {
  const ByteView p = view(data, size);
  std::string v;
  const bool ok = round_trip(p, v, decode_text, put_text);
  FUZZ_REQUIRE(ok == reference_utf8(as_chars(p)));
  FUZZ_REQUIRE(valid_utf8(as_chars(p)) == ok);
  return 0;
}

// NICK payloads and check_nick, against the reference rules.
int nick(const std::uint8_t* data, std::size_t size) {
  const ByteView p = view(data, size);
  std::string v;
  const bool ok = round_trip(p, v, decode_nick, put_text);
  FUZZ_REQUIRE(ok == reference_nick(as_chars(p)));
  std::string_view why;
  FUZZ_REQUIRE((check_nick(as_chars(p), &why) == Status::Ok) == ok);
  FUZZ_REQUIRE(ok || !why.empty());
  return 0;
}

}  // namespace sc::fuzz
