// Sign-in (AUTH) and what it changes for the other requests; the rules are
// in sockchat-protocol(7) SIGN-IN, the server's choices in sockchatd(8).
#include <openssl/crypto.h>

#include <spdlog/spdlog.h>

#include "server/accounts.hpp"
#include "server/connection.hpp"
#include "server/logging.hpp"
#include "server/nick_policy.hpp"

namespace sc::server {
namespace {

// A failed AUTH is answered this long after it arrived, whatever crypt_r
// took, so that guessing passwords is slow and the answer's timing says
// nothing.  Only that connection waits.
constexpr auto kSignInFailureDelay = std::chrono::seconds(1);
// The failure that closes the connection.
constexpr int kMaxSignInFailures = 3;

bool allowed_before_sign_in(std::uint8_t type) {
  switch (static_cast<Type>(type)) {
    case Type::Time:
    case Type::Name:
    case Type::Ping:
    case Type::Auth:
    case Type::Bye: return true;
    default: return false;
  }
}

}  // namespace

bool Connection::sign_in_required() const { return sh_.accounts && !sh_.opts.allow_guests; }

// Every request but TIME, NAME, PING, AUTH and BYE (unknown types too)
// needs a signed-in client when the server requires sign-in.
bool Connection::refused_before_sign_in(const Header& h) {
  if (signed_in_ || !sign_in_required() || allowed_before_sign_in(h.type)) return false;
  respond_error(h, Status::AuthRequired, "sign in first");
  return true;
}

// Guests may not take an account's name or a look-alike, nor the name of
// a signed-in client whose account a reload removed.
bool Connection::nick_reserved(const std::string& key) const {
  if (sh_.registry.key_taken(key, id())) return true;
  return sh_.accounts && sh_.accounts->current()->reserves(key);
}

void Connection::on_auth(const Frame& f) {
  AuthRequest req;
  std::string_view why;
  if (decode_auth(f.payload, req, &why) != Status::Ok) {
    respond_error(f.header, Status::BadRequest, why);
    return;
  }
  if (signed_in_) {
    respond_error(f.header, Status::BadRequest,
                  fmt::format("already signed in as '{}'", peer_->entry().nick));
  } else if (!sh_.accounts) {
    respond_error(f.header, Status::AuthFailed, "this server has no accounts");
  } else if (!peer_->tls() && !is_loopback(addr())) {
    // Loopback peers may send a password in clear: it crosses no network.
    respond_error(f.header, Status::EncryptionRequired,
                  "sign in over TLS: this connection is not encrypted and not from loopback");
  } else {
    check_password(f.header, req);
  }
  OPENSSL_cleanse(req.password.data(), req.password.size());
}

// Waits for a turn at crypt_r (see CryptGate); a shutdown while waiting
// leaves the AUTH unanswered, as it leaves pending SENDs.
void Connection::check_password(const Header& h, const AuthRequest& req) {
  if (!sh_.crypt_gate.enter([this] { return peer_->marks().stop; })) return;
  const bool ok = verify(*sh_.accounts->current(), req.account, req.password);
  sh_.crypt_gate.leave();
  if (ok) {
    complete_sign_in(h, req.account);
  } else {
    fail_sign_in(h, req.account);
  }
}

// The account's name becomes the nick; the client joins now when the
// server requires sign-in (LIST, JOINED), else subscribers see it renamed.
void Connection::complete_sign_in(const Header& req, const std::string& account) {
  if (sh_.registry.sign_in(peer_, account, nick_key(account)) == SignInResult::InUse) {
    spdlog::info("client {} ({}): signed in as '{}', but a guest holds that nick", id(),
                 format_addr(addr()), log_safe(account));
    respond_error(req, Status::NickInUse,
                  fmt::format("a guest is using the nick '{}' (or one like it); sign in again "
                              "once it is free",
                              account));
    return;
  }
  signed_in_ = true;
  Bytes reply;
  put_auth_reply(reply, account);
  respond_ok(req, ByteView(reply.data(), reply.size()));
  spdlog::info("client {} ({}) signed in as '{}'", id(), format_addr(addr()), log_safe(account));
  const PresenceEvent event = joined_ ? PresenceEvent::Renamed : PresenceEvent::Joined;
  joined_ = true;
  announce(event, LeaveReason::Bye);
}

// The delay runs from the turn the AUTH arrived in, so the answer comes
// 1 s after it however long the check took.  Never logs the password; the
// name as the client sent it, made printable.
void Connection::fail_sign_in(const Header& req, std::string_view account) {
  ++auth_failures_;
  spdlog::warn("client {} ({}): failed sign-in as '{}' ({} of {})", id(), format_addr(addr()),
               log_safe(account), auth_failures_, kMaxSignInFailures);
  delayed_ = true;
  delay_until_ = now_ + kSignInFailureDelay;
  failed_auth_ = req;
}

// The delay is over: the answer, then whatever the client sent meanwhile.
void Connection::end_sign_in_delay() {
  delayed_ = false;
  last_frame_ = now_;
  if (auth_failures_ >= kMaxSignInFailures) {
    indicate(Type::Error, Status::AuthFailed,
             fmt::format("{} failed sign-ins; closing", kMaxSignInFailures));
    close_gracefully(LeaveReason::ProtocolError);
    return;
  }
  respond_error(failed_auth_, Status::AuthFailed, "wrong account name or password");
  dispatch_frames();
}

}  // namespace sc::server
