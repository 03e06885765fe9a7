// sockchat wire protocol, version 1: the numbers and the payload structures.
//
// This header is the single source of truth for what travels on the wire.
// The contract is man/sockchat-protocol.7 (and shared/PROTOCOL.md it came
// from), now in its second edition.  If you change anything here that a
// peer can observe -- a value, a field, a layout -- update the man page and
// the Wireshark dissector in the same commit, and bump kVersion unless a
// peer of the previous edition ignores the change or refuses it in a
// defined way (the man page's EDITIONS and STANDARDS say which is which).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sc {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::uint8_t kMagic0 = 0x53;  // 'S'
inline constexpr std::uint8_t kMagic1 = 0x43;  // 'C'
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::uint16_t kDefaultPort = 2555;
inline constexpr std::uint16_t kDefaultTlsPort = 2556;  // implicit TLS, ALPN "sockchat/1"

// Limits that are part of the protocol, not of one server's configuration.
inline constexpr std::size_t kMaxNickBytes = 32;
inline constexpr std::size_t kMaxStr8Bytes = 255;
inline constexpr std::size_t kMaxPasswordBytes = 255;  // AUTH's password, at least 1
// Largest payload a client accepts from a server.  Requests are bounded by
// the max payload the server announces in HELLO; responses can be larger
// (a LIST of many clients), but never above this.
inline constexpr std::uint32_t kMaxServerPayload = 16u * 1024 * 1024;
// Bounds of the server's configurable max request payload (--max-payload).
// The top leaves 1 KiB below kMaxServerPayload: a SEND's text is forwarded in
// a MESSAGE that adds up to 287 bytes of sender fields, and that MESSAGE must
// still be accepted by every client.
inline constexpr std::uint32_t kMinMaxPayload = 64;
inline constexpr std::uint32_t kMaxMaxPayload = kMaxServerPayload - 1024;  // 16776192
inline constexpr std::uint32_t kDefaultMaxPayload = 65536;

enum class Kind : std::uint8_t {
  Request = 1,     // client -> server
  Response = 2,    // server -> client, answers one request (same id, type)
  Indication = 3,  // server -> client, unsolicited
};

enum class Type : std::uint8_t {
  // Requests and their responses.
  Time = 1,
  Name = 2,
  List = 3,
  Send = 4,
  Ping = 5,
  Nick = 6,
  Ack = 7,
  Subscribe = 8,
  Bye = 9,
  Auth = 10,  // second edition: sign in to an account
  // Indications.
  Hello = 64,
  Message = 65,
  Presence = 66,
  Shutdown = 67,
  Error = 68,
};

enum class Status : std::uint8_t {
  Ok = 0,
  BadRequest = 1,
  UnknownType = 2,
  NoSuchClient = 3,
  NotDelivered = 4,
  TooLarge = 5,
  RateLimited = 6,
  ServerFull = 7,
  UnsupportedVersion = 8,
  BadFrame = 9,
  IdleTimeout = 10,
  SendqExceeded = 11,
  NoSuchMessage = 12,
  // Second edition.
  AuthRequired = 13,
  AuthFailed = 14,
  EncryptionRequired = 15,
  NickInUse = 16,
  TooManyConnections = 17,
  Internal = 255,
};

enum class PresenceEvent : std::uint8_t { Joined = 1, Left = 2, Renamed = 3 };

enum class LeaveReason : std::uint8_t {
  Bye = 0,
  Closed = 1,
  IdleTimeout = 2,
  ProtocolError = 3,
  SendqExceeded = 4,
  ServerShutdown = 5,
  NodeDown = 6,  // second edition: the client's server node died
};

inline constexpr std::uint8_t kSubscribePresence = 0x01;

// HELLO flags (second edition).  Bits not named here are reserved: a
// receiver keeps the byte as it came and ignores the bits it does not know.
inline constexpr std::uint8_t kHelloSignInRequired = 0x01;  // AUTH before most requests
inline constexpr std::uint8_t kHelloEncrypted = 0x02;       // this connection is TLS
inline constexpr std::uint8_t kHelloClustered = 0x04;       // clients span several nodes

// The 16-byte frame header, decoded.  Fields hold raw wire values so that a
// decoder can report what it saw even when a value is not in an enum.
struct Header {
  std::uint8_t version = kVersion;
  std::uint8_t kind = 0;
  std::uint8_t type = 0;
  std::uint8_t status = 0;
  std::uint16_t reserved = 0;
  std::uint32_t id = 0;
  std::uint32_t length = 0;
};

// `addr`: a peer's IP address and port.  IPv4 (also IPv4-mapped IPv6) uses
// family 4 and the first 4 bytes of `bytes`.
struct Addr {
  std::uint8_t family = 4;  // 4 or 6
  std::array<std::uint8_t, 16> bytes{};
  std::uint16_t port = 0;
  bool operator==(const Addr&) const = default;
};

// `entry`: one connected client, as in LIST and PRESENCE.
struct Entry {
  std::uint32_t id = 0;
  Addr addr;
  std::int64_t connected_at_us = 0;
  std::string nick;  // may be empty
  bool operator==(const Entry&) const = default;
};

struct Hello {
  std::uint32_t client_id = 0;
  std::uint16_t heartbeat_s = 0;
  std::uint16_t idle_timeout_s = 0;
  std::uint16_t delivery_timeout_s = 0;
  std::uint32_t max_payload = 0;
  std::string server_name;
  // Second edition; a first-edition HELLO (no flags byte) decodes as 0.
  std::uint8_t flags = 0;
  bool operator==(const Hello&) const = default;
};

struct TimeReply {
  std::int64_t time_us = 0;
  std::int32_t utc_offset_s = 0;
  std::string zone;
  bool operator==(const TimeReply&) const = default;
};

struct SendRequest {
  std::uint32_t target = 0;
  std::string text;
  bool operator==(const SendRequest&) const = default;
};

// MESSAGE indication; the message id travels in the header's id field.
struct Message {
  std::uint32_t sender = 0;
  Addr addr;
  std::string nick;
  std::int64_t sent_at_us = 0;
  std::string text;
  bool operator==(const Message&) const = default;
};

struct Presence {
  PresenceEvent event = PresenceEvent::Joined;
  LeaveReason reason = LeaveReason::Bye;  // meaningful for Left only; 0 otherwise
  Entry entry;
  bool operator==(const Presence&) const = default;
};

// AUTH request (second edition).  The OK response carries the account name
// alone (a str8), which is then the connection's nick.  The password is a
// secret: nothing should log or display it.
struct AuthRequest {
  std::string account;   // follows the nick rules
  std::string password;  // 1..255 bytes of UTF-8
  bool operator==(const AuthRequest&) const = default;
};

// Payload of a NOT_DELIVERED response to SEND.
struct NotDelivered {
  std::uint32_t message_id = 0;
  std::string text;
  bool operator==(const NotDelivered&) const = default;
};

// Human-readable names, for logs and the client ("TIME", "NOT_DELIVERED").
// Unknown values give "?".
const char* kind_name(std::uint8_t kind);
const char* type_name(std::uint8_t type);
const char* status_name(std::uint8_t status);
const char* leave_reason_name(std::uint8_t reason);

bool is_request_type(std::uint8_t type);
bool is_indication_type(std::uint8_t type);

}  // namespace sc
