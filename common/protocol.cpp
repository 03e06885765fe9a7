// Names and classification of the wire values in protocol.hpp.
#include "common/protocol.hpp"

namespace sc {

const char* kind_name(std::uint8_t kind) {
  switch (kind) {
    case 1: return "REQUEST";
    case 2: return "RESPONSE";
    case 3: return "INDICATION";
    default: return "?";
  }
}

const char* type_name(std::uint8_t type) {
  switch (static_cast<Type>(type)) {
    case Type::Time: return "TIME";
    case Type::Name: return "NAME";
    case Type::List: return "LIST";
    case Type::Send: return "SEND";
    case Type::Ping: return "PING";
    case Type::Nick: return "NICK";
    case Type::Ack: return "ACK";
    case Type::Subscribe: return "SUBSCRIBE";
    case Type::Bye: return "BYE";
    case Type::Auth: return "AUTH";
    case Type::Hello: return "HELLO";
    case Type::Message: return "MESSAGE";
    case Type::Presence: return "PRESENCE";
    case Type::Shutdown: return "SHUTDOWN";
    case Type::Error: return "ERROR";
  }
  return "?";
}

const char* status_name(std::uint8_t status) {
  switch (static_cast<Status>(status)) {
    case Status::Ok: return "OK";
    case Status::BadRequest: return "BAD_REQUEST";
    case Status::UnknownType: return "UNKNOWN_TYPE";
    case Status::NoSuchClient: return "NO_SUCH_CLIENT";
    case Status::NotDelivered: return "NOT_DELIVERED";
    case Status::TooLarge: return "TOO_LARGE";
    case Status::RateLimited: return "RATE_LIMITED";
    case Status::ServerFull: return "SERVER_FULL";
    case Status::UnsupportedVersion: return "UNSUPPORTED_VERSION";
    case Status::BadFrame: return "BAD_FRAME";
    case Status::IdleTimeout: return "IDLE_TIMEOUT";
    case Status::SendqExceeded: return "SENDQ_EXCEEDED";
    case Status::NoSuchMessage: return "NO_SUCH_MESSAGE";
    case Status::AuthRequired: return "AUTH_REQUIRED";
    case Status::AuthFailed: return "AUTH_FAILED";
    case Status::EncryptionRequired: return "ENCRYPTION_REQUIRED";
    case Status::NickInUse: return "NICK_IN_USE";
    case Status::TooManyConnections: return "TOO_MANY_CONNECTIONS";
    case Status::Internal: return "INTERNAL";
  }
  return "?";
}

const char* leave_reason_name(std::uint8_t reason) {
  switch (static_cast<LeaveReason>(reason)) {
    case LeaveReason::Bye: return "BYE";
    case LeaveReason::Closed: return "CLOSED";
    case LeaveReason::IdleTimeout: return "IDLE_TIMEOUT";
    case LeaveReason::ProtocolError: return "PROTOCOL_ERROR";
    case LeaveReason::SendqExceeded: return "SENDQ_EXCEEDED";
    case LeaveReason::ServerShutdown: return "SERVER_SHUTDOWN";
    case LeaveReason::NodeDown: return "NODE_DOWN";
  }
  return "?";
}

bool is_request_type(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(Type::Time) &&
         type <= static_cast<std::uint8_t>(Type::Auth);
}

bool is_indication_type(std::uint8_t type) {
  return type >= static_cast<std::uint8_t>(Type::Hello) &&
         type <= static_cast<std::uint8_t>(Type::Error);
}

}  // namespace sc
