// Frame and payload codec: bytes in, values out.  Pure: no sockets, no
// threads, no logging.  Everything here is unit-tested with bytes alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol.hpp"

namespace sc {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// ---------------------------------------------------------------------------
// Frame encoding.

// Appends a 16-byte header with the given fields and `length` to `out`.
void put_header(Bytes& out, const Header& h);

// Appends a whole frame: header (length = payload.size()) and payload.
void put_frame(Bytes& out, Kind kind, std::uint8_t type, std::uint8_t status,
               std::uint32_t id, ByteView payload);

// Incremental building without a temporary payload buffer:
//   size_t at = begin_frame(out, ...); put_u32(out, ...); ...; end_frame(out, at);
// end_frame() patches the length field of the frame that starts at `at`.
std::size_t begin_frame(Bytes& out, Kind kind, std::uint8_t type,
                        std::uint8_t status, std::uint32_t id);
void end_frame(Bytes& out, std::size_t at);

// Building blocks (big-endian).  put_str8 requires s.size() <= 255 (callers
// validate; it asserts).  put_text appends the bytes without a prefix.
void put_u8(Bytes& out, std::uint8_t v);
void put_u16(Bytes& out, std::uint16_t v);
void put_u32(Bytes& out, std::uint32_t v);
void put_i32(Bytes& out, std::int32_t v);
void put_i64(Bytes& out, std::int64_t v);
void put_str8(Bytes& out, std::string_view s);
void put_text(Bytes& out, std::string_view s);
void put_addr(Bytes& out, const Addr& a);
void put_entry(Bytes& out, const Entry& e);

// Typed payload encoders: each appends only the payload.  put_hello always
// writes the second edition's flags byte.  put_auth requires an account of
// at most 255 bytes (put_str8).
void put_hello(Bytes& out, const Hello& v);
void put_time_reply(Bytes& out, const TimeReply& v);
void put_list_reply(Bytes& out, const std::vector<Entry>& entries);
void put_send_request(Bytes& out, const SendRequest& v);
void put_message(Bytes& out, const Message& v);
void put_presence(Bytes& out, const Presence& v);
void put_not_delivered(Bytes& out, const NotDelivered& v);
void put_auth(Bytes& out, const AuthRequest& v);
void put_auth_reply(Bytes& out, std::string_view account);  // AUTH's OK response

// ---------------------------------------------------------------------------
// Frame decoding: an incremental decoder in the style of hiredis's reader.
//
// The receive loop appends whatever recv() returned (feed(), or write_space()
// + commit() to recv straight into the buffer), then calls next() until it
// returns NeedMore or an error.  The decoder never touches a socket and never
// trusts a length before checking it against the configured maximum.

// Which side is decoding: the server accepts only REQUEST frames; a client
// accepts RESPONSE and INDICATION frames.
enum class Role : std::uint8_t { Server, Client };

enum class DecodeResult : std::uint8_t {
  NeedMore,     // no complete frame buffered yet
  Frame,        // `frame` holds a complete frame
  TooLarge,     // `frame.header` has a length above the maximum; the decoder
                // now discards that many payload bytes without buffering them
                // (frame.payload is empty).  Not fatal: answer TOO_LARGE.
  BadMagic,     // fatal: first two bytes are not "SC"
  BadVersion,   // fatal: version byte is not 1
  BadKind,      // fatal: kind not allowed for this role
};

// Status code that a fatal DecodeResult maps to (BAD_FRAME,
// UNSUPPORTED_VERSION); TOO_LARGE for TooLarge; OK otherwise.
Status status_for(DecodeResult r);
const char* describe(DecodeResult r);  // "bad magic", "unsupported version 7"...

struct Frame {
  Header header;
  ByteView payload;  // points into the decoder; valid until the next feed/commit/next
};

class FrameDecoder {
 public:
  FrameDecoder(Role role, std::uint32_t max_payload);

  // Append received bytes.
  void feed(ByteView bytes);
  // Zero-copy receive: get room for at least `min` bytes, recv() into it,
  // then commit() the count actually received.
  std::span<std::uint8_t> write_space(std::size_t min);
  void commit(std::size_t n);

  // Errors are reported as soon as the offending byte has arrived (a bad
  // first byte is BadMagic at once; the decoder does not wait for 16 bytes).
  // After a fatal error every later call returns the same error.
  DecodeResult next(Frame& frame);

  // Bytes buffered (or still to be skipped) that do not yet form a complete
  // frame: nonzero means the peer is mid-frame.
  std::size_t pending() const;
  // Frees the buffer's memory when nothing is buffered (idle connections
  // should not hold receive buffers).
  void shrink_if_idle();

  std::uint32_t max_payload() const { return max_payload_; }

 private:
  void make_room(std::size_t min);
  void discard_skipped();

  Role role_;
  std::uint32_t max_payload_;
  // buf_ is sized to the memory it owns (grown, and so zero-filled, only
  // when it must grow); received bytes are [start_, end_), free room is
  // [end_, buf_.size()).  Keeping the end apart from the vector's size means
  // write_space() never zero-fills the room it hands out.
  Bytes buf_;
  std::size_t start_ = 0;      // first unconsumed byte in buf_
  std::size_t end_ = 0;        // one past the last received byte
  std::size_t space_ = 0;      // room handed out by write_space(), not yet committed
  std::uint64_t skip_ = 0;     // payload bytes of a TooLarge frame left to discard
  DecodeResult fatal_ = DecodeResult::NeedMore;
};

// ---------------------------------------------------------------------------
// Payload decoding.  Each returns Status::Ok, or Status::BadRequest with a
// short reason in *why (a static string, "trailing bytes", "nick contains
// whitespace", ...).  They reject short payloads, trailing bytes, invalid
// UTF-8 and bad nicks.

// HELLO is the one payload that may grow: the flags byte is read when
// present (a first-edition HELLO has none: flags 0) and any bytes after it
// are ignored, so that a later edition can add fields.
Status decode_hello(ByteView p, Hello& out, std::string_view* why = nullptr);
Status decode_time_reply(ByteView p, TimeReply& out, std::string_view* why = nullptr);
Status decode_list_reply(ByteView p, std::vector<Entry>& out, std::string_view* why = nullptr);
Status decode_send_request(ByteView p, SendRequest& out, std::string_view* why = nullptr);
Status decode_message(ByteView p, Message& out, std::string_view* why = nullptr);
Status decode_presence(ByteView p, Presence& out, std::string_view* why = nullptr);
Status decode_not_delivered(ByteView p, NotDelivered& out, std::string_view* why = nullptr);
// u32 payloads: SEND OK response (message id), ACK request (message id).
Status decode_u32(ByteView p, std::uint32_t& out, std::string_view* why = nullptr);
// u8 payload: SUBSCRIBE flags.
Status decode_u8(ByteView p, std::uint8_t& out, std::string_view* why = nullptr);
// `text` payloads (NAME response, error texts, SHUTDOWN, ERROR): valid UTF-8.
Status decode_text(ByteView p, std::string& out, std::string_view* why = nullptr);
// NICK request: 1..32 bytes, valid UTF-8, no control characters, no whitespace.
Status decode_nick(ByteView p, std::string& out, std::string_view* why = nullptr);
// AUTH request.  Reasons: "payload too short" (no account length, or fewer
// bytes than it says), "account name is empty" and the other check_account
// reasons, "password is empty", "password is longer than 255 bytes",
// "password is not valid UTF-8".
Status decode_auth(ByteView p, AuthRequest& out, std::string_view* why = nullptr);
// AUTH OK response: str8 account name by the same rules, nothing after it
// ("trailing bytes").
Status decode_auth_reply(ByteView p, std::string& account, std::string_view* why = nullptr);

// ---------------------------------------------------------------------------
// Text rules shared by server and client.

bool valid_utf8(std::string_view s);
// Ok, or BadRequest with *why: "nick is empty", "nick is longer than 32
// bytes", "nick is not valid UTF-8", "nick contains a control character",
// "nick contains whitespace".  Whitespace is Unicode White_Space; control is
// C0, DEL and C1.
Status check_nick(std::string_view nick, std::string_view* why = nullptr);
// Account names follow the nick rules (a signed-in account becomes the
// nick); the reasons say "account name" instead of "nick": "account name is
// empty", "account name is longer than 32 bytes", "account name is not valid
// UTF-8", "account name contains a control character", "account name
// contains whitespace".
Status check_account(std::string_view account, std::string_view* why = nullptr);

// "127.0.0.1:51234", "[2001:db8::5]:40000".
std::string format_addr(const Addr& a);
// The IP alone: "127.0.0.1", "2001:db8::5".
std::string format_ip(const Addr& a);
// 127.0.0.0/8, ::1, or 127.0.0.0/8 mapped into IPv6 (::ffff:127.0.0.1).
bool is_loopback(const Addr& a);

}  // namespace sc
