// Frame and payload codec.  See codec.hpp for the contracts and
// shared/PROTOCOL.md for the wire format.
#include "common/codec.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace sc {

namespace {

// ---------------------------------------------------------------------------
// Big-endian integers, read and written byte by byte so that alignment and
// host byte order never matter.

std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t load_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
         (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::uint64_t load_u64(const std::uint8_t* p) {
  return (std::uint64_t{load_u32(p)} << 32) | load_u32(p + 4);
}

void store_u32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// ---------------------------------------------------------------------------
// UTF-8.

// Decodes the sequence at s[i]: returns its length and the code point, or 0
// for anything that is not well-formed UTF-8 (truncated sequences, stray
// continuation bytes, overlong forms, surrogates, values above U+10FFFF).
std::size_t decode_utf8_at(std::string_view s, std::size_t i, char32_t& cp) {
  const auto c = static_cast<std::uint8_t>(s[i]);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<std::uint8_t>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

// Unicode's White_Space property (PropList.txt).
bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// ---------------------------------------------------------------------------
// Payload reader: every read checks the remaining length first; the first
// failure sticks and names the reason.

class Reader {
 public:
  explicit Reader(ByteView p) : p_(p) {}

  bool u8(std::uint8_t& v) {
    if (!have(1)) return false;
    v = p_[pos_++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (!have(2)) return false;
    v = load_u16(p_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (!have(4)) return false;
    v = load_u32(p_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool i32(std::int32_t& v) {
    std::uint32_t u;
    if (!u32(u)) return false;
    v = static_cast<std::int32_t>(u);  // two's complement (C++20)
    return true;
  }
  bool i64(std::int64_t& v) {
    if (!have(8)) return false;
    v = static_cast<std::int64_t>(load_u64(p_.data() + pos_));
    pos_ += 8;
    return true;
  }
  bool str8(std::string& s) {
    std::uint8_t len;
    return u8(len) && bytes(len, s);
  }
  // `text`: the rest of the payload.
  bool text(std::string& s) { return bytes(p_.size() - pos_, s); }
  bool addr(Addr& a);
  bool entry(Entry& e);

  // Reports BadRequest when bytes are left over or an earlier read failed.
  Status finish(std::string_view* why) {
    if (!why_ && pos_ != p_.size()) why_ = "trailing bytes";
    if (!why_) return Status::Ok;
    if (why) *why = why_;
    return Status::BadRequest;
  }
  bool fail(const char* why) {
    if (!why_) why_ = why;
    return false;
  }
  std::size_t remaining() const { return p_.size() - pos_; }
  void skip_rest() { pos_ = p_.size(); }
  // Raw bytes, checked by the caller (for typed reasons of its own).
  bool raw(std::size_t n, std::string_view& s) {
    if (!have(n)) return false;
    s = as_chars(p_.subspan(pos_, n));
    pos_ += n;
    return true;
  }

 private:
  bool have(std::size_t n) { return p_.size() - pos_ >= n || fail("payload too short"); }
  bool bytes(std::size_t n, std::string& s) {
    if (!have(n)) return false;
    s.assign(as_chars(p_.subspan(pos_, n)));
    pos_ += n;
    return valid_utf8(s) || fail("invalid UTF-8");
  }

  ByteView p_;
  std::size_t pos_ = 0;
  const char* why_ = nullptr;
};

bool Reader::addr(Addr& a) {
  if (!u8(a.family)) return false;
  if (a.family != 4 && a.family != 6) return fail("bad address family");
  const std::size_t n = a.family == 4 ? 4 : 16;
  if (!have(n)) return false;
  a.bytes = {};
  std::memcpy(a.bytes.data(), p_.data() + pos_, n);
  pos_ += n;
  return u16(a.port);
}

// A nick inside an entry or a MESSAGE: empty (never set) or a valid nick.
bool check_peer_nick(Reader& r, std::string_view nick) {
  std::string_view why;
  return nick.empty() || check_nick(nick, &why) == Status::Ok || r.fail(why.data());
}

bool Reader::entry(Entry& e) {
  return u32(e.id) && addr(e.addr) && i64(e.connected_at_us) && str8(e.nick) &&
         check_peer_nick(*this, e.nick);
}

// Smallest encoded entry: id, IPv4 addr, connected-at, empty nick.
constexpr std::size_t kMinEntryBytes = 4 + 7 + 8 + 1;

}  // namespace

// ---------------------------------------------------------------------------
// Encoding.

void put_u8(Bytes& out, std::uint8_t v) { out.push_back(v); }

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_u32(Bytes& out, std::uint32_t v) {
  std::uint8_t b[4];
  store_u32(b, v);
  out.insert(out.end(), b, b + 4);
}

void put_i32(Bytes& out, std::int32_t v) { put_u32(out, static_cast<std::uint32_t>(v)); }

void put_i64(Bytes& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  put_u32(out, static_cast<std::uint32_t>(u >> 32));
  put_u32(out, static_cast<std::uint32_t>(u));
}

void put_text(Bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

void put_str8(Bytes& out, std::string_view s) {
  assert(s.size() <= kMaxStr8Bytes);
  // Without asserts, keep the frame well-formed rather than the text whole.
  s = s.substr(0, kMaxStr8Bytes);
  put_u8(out, static_cast<std::uint8_t>(s.size()));
  put_text(out, s);
}

void put_addr(Bytes& out, const Addr& a) {
  const std::size_t n = a.family == 6 ? 16 : 4;
  put_u8(out, a.family == 6 ? 6 : 4);
  out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + static_cast<std::ptrdiff_t>(n));
  put_u16(out, a.port);
}

void put_entry(Bytes& out, const Entry& e) {
  put_u32(out, e.id);
  put_addr(out, e.addr);
  put_i64(out, e.connected_at_us);
  put_str8(out, e.nick);
}

void put_header(Bytes& out, const Header& h) {
  const std::uint8_t fixed[6] = {kMagic0, kMagic1, h.version, h.kind, h.type, h.status};
  out.insert(out.end(), fixed, fixed + 6);
  put_u16(out, h.reserved);
  put_u32(out, h.id);
  put_u32(out, h.length);
}

// No exact reserve() here: callers append thousands of frames to one
// buffer (a pipelined /time 10000), and reserving exactly each time would
// copy the whole buffer per frame instead of letting it grow geometrically.
void put_frame(Bytes& out, Kind kind, std::uint8_t type, std::uint8_t status,
               std::uint32_t id, ByteView payload) {
  const std::size_t at = begin_frame(out, kind, type, status, id);
  out.insert(out.end(), payload.begin(), payload.end());
  end_frame(out, at);
}

std::size_t begin_frame(Bytes& out, Kind kind, std::uint8_t type, std::uint8_t status,
                        std::uint32_t id) {
  const std::size_t at = out.size();
  Header h;
  h.kind = static_cast<std::uint8_t>(kind);
  h.type = type;
  h.status = status;
  h.id = id;
  put_header(out, h);
  return at;
}

void end_frame(Bytes& out, std::size_t at) {
  assert(out.size() >= at + kHeaderSize);
  const std::size_t len = out.size() - at - kHeaderSize;
  assert(len <= UINT32_MAX);
  store_u32(out.data() + at + 12, static_cast<std::uint32_t>(len));
}

void put_hello(Bytes& out, const Hello& v) {
  put_u32(out, v.client_id);
  put_u16(out, v.heartbeat_s);
  put_u16(out, v.idle_timeout_s);
  put_u16(out, v.delivery_timeout_s);
  put_u32(out, v.max_payload);
  put_str8(out, v.server_name);
  put_u8(out, v.flags);
}

void put_time_reply(Bytes& out, const TimeReply& v) {
  put_i64(out, v.time_us);
  put_i32(out, v.utc_offset_s);
  put_str8(out, v.zone);
}

void put_list_reply(Bytes& out, const std::vector<Entry>& entries) {
  assert(entries.size() <= UINT32_MAX);
  put_u32(out, static_cast<std::uint32_t>(entries.size()));
  for (const Entry& e : entries) put_entry(out, e);
}

void put_send_request(Bytes& out, const SendRequest& v) {
  put_u32(out, v.target);
  put_text(out, v.text);
}

void put_message(Bytes& out, const Message& v) {
  put_u32(out, v.sender);
  put_addr(out, v.addr);
  put_str8(out, v.nick);
  put_i64(out, v.sent_at_us);
  put_text(out, v.text);
}

void put_presence(Bytes& out, const Presence& v) {
  put_u8(out, static_cast<std::uint8_t>(v.event));
  put_u8(out, static_cast<std::uint8_t>(v.reason));
  put_entry(out, v.entry);
}

void put_not_delivered(Bytes& out, const NotDelivered& v) {
  put_u32(out, v.message_id);
  put_text(out, v.text);
}

void put_auth(Bytes& out, const AuthRequest& v) {
  put_str8(out, v.account);
  put_text(out, v.password);
}

void put_auth_reply(Bytes& out, std::string_view account) { put_str8(out, account); }

// ---------------------------------------------------------------------------
// Frame decoding.

Status status_for(DecodeResult r) {
  switch (r) {
    case DecodeResult::BadMagic:
    case DecodeResult::BadKind: return Status::BadFrame;
    case DecodeResult::BadVersion: return Status::UnsupportedVersion;
    case DecodeResult::TooLarge: return Status::TooLarge;
    case DecodeResult::NeedMore:
    case DecodeResult::Frame: break;
  }
  return Status::Ok;
}

const char* describe(DecodeResult r) {
  switch (r) {
    case DecodeResult::NeedMore: return "incomplete frame";
    case DecodeResult::Frame: return "frame";
    case DecodeResult::TooLarge: return "payload too large";
    case DecodeResult::BadMagic: return "bad magic";
    case DecodeResult::BadVersion: return "unsupported protocol version";
    case DecodeResult::BadKind: return "frame kind not allowed";
  }
  return "?";
}

FrameDecoder::FrameDecoder(Role role, std::uint32_t max_payload)
    : role_(role), max_payload_(max_payload) {}

namespace {

// Checks the header bytes that have arrived so far, in wire order, so that a
// broken stream is refused at its first wrong byte.
DecodeResult check_prefix(Role role, const std::uint8_t* p, std::size_t n) {
  if (n >= 1 && p[0] != kMagic0) return DecodeResult::BadMagic;
  if (n >= 2 && p[1] != kMagic1) return DecodeResult::BadMagic;
  if (n >= 3 && p[2] != kVersion) return DecodeResult::BadVersion;
  if (n >= 4) {
    const bool ok = role == Role::Server
                        ? p[3] == static_cast<std::uint8_t>(Kind::Request)
                        : p[3] == static_cast<std::uint8_t>(Kind::Response) ||
                              p[3] == static_cast<std::uint8_t>(Kind::Indication);
    if (!ok) return DecodeResult::BadKind;
  }
  return DecodeResult::NeedMore;
}

Header parse_header(const std::uint8_t* p) {
  Header h;
  h.version = p[2];
  h.kind = p[3];
  h.type = p[4];
  h.status = p[5];
  h.reserved = load_u16(p + 6);
  h.id = load_u32(p + 8);
  h.length = load_u32(p + 12);
  return h;
}

// Fills what a broken header showed, so the caller can log it.
Header partial_header(const std::uint8_t* p, std::size_t n) {
  Header h;
  if (n >= 3) h.version = p[2];
  if (n >= 4) h.kind = p[3];
  return h;
}

}  // namespace

// Makes room for `min` more bytes after end_.  Moves unconsumed bytes to the
// front only when that is cheap or needed: the buffer is fully consumed, more
// than half of it is dead space, or the room would otherwise not suffice; so
// each byte moves O(1) times on average.  Grows geometrically.  Invalidates
// frame payload views.
void FrameDecoder::make_room(std::size_t min) {
  if (start_ == end_) {
    start_ = end_ = 0;
  } else if (start_ > buf_.size() / 2 || (start_ > 0 && buf_.size() - end_ < min)) {
    std::memmove(buf_.data(), buf_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  if (buf_.size() - end_ < min) buf_.resize(std::max(end_ + min, 2 * buf_.size()));
}

// Drops received bytes of a TooLarge payload.
void FrameDecoder::discard_skipped() {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, end_ - start_));
  start_ += n;
  skip_ -= n;
}

void FrameDecoder::feed(ByteView bytes) {
  space_ = 0;  // feeding forgets room handed out and not committed
  discard_skipped();
  // Skipped payload never enters the buffer.
  if (skip_ != 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, bytes.size()));
    skip_ -= n;
    bytes = bytes.subspan(n);
  }
  if (bytes.empty()) return;
  make_room(bytes.size());
  std::memcpy(buf_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<std::uint8_t> FrameDecoder::write_space(std::size_t min) {
  make_room(min);
  space_ = min;
  return {buf_.data() + end_, min};
}

void FrameDecoder::commit(std::size_t n) {
  assert(n <= space_);
  end_ += std::min(n, space_);
  space_ = 0;
  discard_skipped();
}

DecodeResult FrameDecoder::next(Frame& frame) {
  if (fatal_ != DecodeResult::NeedMore) return fatal_;
  discard_skipped();
  const std::size_t avail = end_ - start_;
  const std::uint8_t* p = buf_.data() + start_;
  if (const DecodeResult bad = check_prefix(role_, p, avail); bad != DecodeResult::NeedMore) {
    frame.header = partial_header(p, avail);
    frame.payload = {};
    return fatal_ = bad;
  }
  if (avail < kHeaderSize) return DecodeResult::NeedMore;
  const Header h = parse_header(p);
  if (h.length > max_payload_) {
    start_ += kHeaderSize;
    skip_ += h.length;
    discard_skipped();
    frame.header = h;
    frame.payload = {};
    return DecodeResult::TooLarge;
  }
  if (avail - kHeaderSize < h.length) return DecodeResult::NeedMore;
  frame.header = h;
  frame.payload = ByteView(p + kHeaderSize, h.length);
  start_ += kHeaderSize + h.length;
  return DecodeResult::Frame;
}

std::size_t FrameDecoder::pending() const {
  return end_ - start_ + static_cast<std::size_t>(skip_);
}

void FrameDecoder::shrink_if_idle() {
  if (start_ != end_ || space_ != 0) return;  // bytes pending, or room handed out
  Bytes().swap(buf_);
  start_ = end_ = 0;
}

// ---------------------------------------------------------------------------
// Payload decoding.

Status decode_hello(ByteView p, Hello& out, std::string_view* why) {
  Reader r(p);
  out.flags = 0;
  if (r.u32(out.client_id) && r.u16(out.heartbeat_s) && r.u16(out.idle_timeout_s) &&
      r.u16(out.delivery_timeout_s) && r.u32(out.max_payload) && r.str8(out.server_name) &&
      r.remaining() > 0) {
    r.u8(out.flags);
    r.skip_rest();  // fields of a later edition
  }
  return r.finish(why);
}

Status decode_time_reply(ByteView p, TimeReply& out, std::string_view* why) {
  Reader r(p);
  r.i64(out.time_us) && r.i32(out.utc_offset_s) && r.str8(out.zone);
  return r.finish(why);
}

Status decode_list_reply(ByteView p, std::vector<Entry>& out, std::string_view* why) {
  Reader r(p);
  std::uint32_t count = 0;
  out.clear();
  if (r.u32(count)) {
    // The count is peer data: never reserve more than the bytes can hold.
    if (count > r.remaining() / kMinEntryBytes) {
      r.fail("payload too short");
    } else {
      out.resize(count);
      for (Entry& e : out)
        if (!r.entry(e)) break;
    }
  }
  return r.finish(why);
}

Status decode_send_request(ByteView p, SendRequest& out, std::string_view* why) {
  Reader r(p);
  if (r.u32(out.target) && r.text(out.text) && out.text.empty()) r.fail("empty message");
  return r.finish(why);
}

Status decode_message(ByteView p, Message& out, std::string_view* why) {
  Reader r(p);
  r.u32(out.sender) && r.addr(out.addr) && r.str8(out.nick) && check_peer_nick(r, out.nick) &&
      r.i64(out.sent_at_us) && r.text(out.text);
  return r.finish(why);
}

namespace {

bool check_presence(Reader& r, std::uint8_t event, std::uint8_t reason) {
  if (event < 1 || event > 3) return r.fail("bad presence event");
  const bool left = event == static_cast<std::uint8_t>(PresenceEvent::Left);
  const std::uint8_t max = left ? static_cast<std::uint8_t>(LeaveReason::NodeDown) : 0;
  return reason <= max || r.fail("bad leave reason");
}

}  // namespace

Status decode_presence(ByteView p, Presence& out, std::string_view* why) {
  Reader r(p);
  std::uint8_t event = 0, reason = 0;
  if (r.u8(event) && r.u8(reason) && check_presence(r, event, reason)) {
    out.event = static_cast<PresenceEvent>(event);
    out.reason = static_cast<LeaveReason>(reason);
    r.entry(out.entry);
  }
  return r.finish(why);
}

Status decode_not_delivered(ByteView p, NotDelivered& out, std::string_view* why) {
  Reader r(p);
  r.u32(out.message_id) && r.text(out.text);
  return r.finish(why);
}

Status decode_u32(ByteView p, std::uint32_t& out, std::string_view* why) {
  Reader r(p);
  r.u32(out);
  return r.finish(why);
}

Status decode_u8(ByteView p, std::uint8_t& out, std::string_view* why) {
  Reader r(p);
  r.u8(out);
  return r.finish(why);
}

Status decode_text(ByteView p, std::string& out, std::string_view* why) {
  Reader r(p);
  r.text(out);
  return r.finish(why);
}

namespace {

// Reads a str8 account name and checks it by the nick rules, so that each
// broken rule has its own reason.
bool read_account(Reader& r, std::string& account) {
  std::uint8_t len = 0;
  std::string_view raw;
  if (!r.u8(len) || !r.raw(len, raw)) return false;
  std::string_view why;
  if (check_account(raw, &why) != Status::Ok) return r.fail(why.data());
  account.assign(raw);
  return true;
}

bool check_password(Reader& r, std::string_view password) {
  if (password.empty()) return r.fail("password is empty");
  if (password.size() > kMaxPasswordBytes) return r.fail("password is longer than 255 bytes");
  return valid_utf8(password) || r.fail("password is not valid UTF-8");
}

}  // namespace

Status decode_auth(ByteView p, AuthRequest& out, std::string_view* why) {
  Reader r(p);
  std::string_view password;
  if (read_account(r, out.account) && r.raw(r.remaining(), password) && check_password(r, password))
    out.password.assign(password);
  return r.finish(why);
}

Status decode_auth_reply(ByteView p, std::string& account, std::string_view* why) {
  Reader r(p);
  read_account(r, account);
  return r.finish(why);
}

Status decode_nick(ByteView p, std::string& out, std::string_view* why) {
  const Status s = check_nick(as_chars(p), why);
  if (s == Status::Ok) out.assign(as_chars(p));
  return s;
}

// ---------------------------------------------------------------------------
// Text rules.

bool valid_utf8(std::string_view s) {
  char32_t cp;
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<std::uint8_t>(s[i]) < 0x80) {  // fast path: ASCII
      ++i;
      continue;
    }
    const std::size_t len = decode_utf8_at(s, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

namespace {

// The nick rules, as the first rule a name breaks (nicks and account names
// share them, in different words).
enum class NameProblem { None, Empty, TooLong, NotUtf8, Control, WhiteSpace };

NameProblem find_name_problem(std::string_view name) {
  if (name.empty()) return NameProblem::Empty;
  if (name.size() > kMaxNickBytes) return NameProblem::TooLong;
  char32_t cp;
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t len = decode_utf8_at(name, i, cp);
    if (len == 0) return NameProblem::NotUtf8;
    if (is_control(cp)) return NameProblem::Control;
    if (is_white_space(cp)) return NameProblem::WhiteSpace;
    i += len;
  }
  return NameProblem::None;
}

// reasons[] is indexed by NameProblem, from Empty on.
Status check_name(std::string_view name, const char* const (&reasons)[5], std::string_view* why) {
  const NameProblem problem = find_name_problem(name);
  if (problem == NameProblem::None) return Status::Ok;
  if (why) *why = reasons[static_cast<int>(problem) - 1];
  return Status::BadRequest;
}

constexpr const char* kNickReasons[5] = {
    "nick is empty", "nick is longer than 32 bytes", "nick is not valid UTF-8",
    "nick contains a control character", "nick contains whitespace"};
constexpr const char* kAccountReasons[5] = {
    "account name is empty", "account name is longer than 32 bytes",
    "account name is not valid UTF-8", "account name contains a control character",
    "account name contains whitespace"};

}  // namespace

Status check_nick(std::string_view nick, std::string_view* why) {
  return check_name(nick, kNickReasons, why);
}

Status check_account(std::string_view account, std::string_view* why) {
  return check_name(account, kAccountReasons, why);
}

std::string format_ip(const Addr& a) {
  char buf[INET6_ADDRSTRLEN];
  const int af = a.family == 6 ? AF_INET6 : a.family == 4 ? AF_INET : AF_UNSPEC;
  if (af == AF_UNSPEC || !inet_ntop(af, a.bytes.data(), buf, sizeof buf)) return "?";
  return buf;
}

std::string format_addr(const Addr& a) {
  const std::string ip = format_ip(a);
  const std::string port = std::to_string(a.port);
  return a.family == 6 ? "[" + ip + "]:" + port : ip + ":" + port;
}

bool is_loopback(const Addr& a) {
  if (a.family == 4) return a.bytes[0] == 127;
  if (a.family != 6) return false;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(a.bytes.begin(), a.bytes.begin() + 12, kMapped)) return a.bytes[12] == 127;
  return std::all_of(a.bytes.begin(), a.bytes.begin() + 15, [](std::uint8_t b) { return b == 0; }) &&
         a.bytes[15] == 1;
}

}  // namespace sc
