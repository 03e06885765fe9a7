#include "common/tls_session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace sc::tls {
namespace {

constexpr std::size_t kMaxRecordPlain = 16384;

}  // namespace

std::string last_error(const char* fallback) {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

TlsSession::TlsSession(SSL_CTX* ctx, Side side) : side_(side) {
  ssl_ = ctx != nullptr ? SSL_new(ctx) : nullptr;
  if (ssl_ == nullptr) return;
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (in_ == nullptr || out_ == nullptr) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  // An empty input BIO means "wait for more", never end of stream: the
  // connection thread sees the real EOF at recv().
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_);
  if (side == Side::Server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

TlsSession::Input TlsSession::feed(ByteView cipher, FrameDecoder& plain) {
  if (!first_byte_seen_ && !cipher.empty()) {
    first_byte_seen_ = true;
    looks_like_tls_ = cipher[0] == 0x16;  // a handshake record: ClientHello or ServerHello
  }
  ERR_clear_error();
  if (!cipher.empty() &&
      BIO_write(in_, cipher.data(), static_cast<int>(cipher.size())) != static_cast<int>(cipher.size())) {
    why_ = "out of memory buffering TLS input";
    return Input::Failed;
  }
  if (!established_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int e = SSL_get_error(ssl_, rc);
      return e == SSL_ERROR_WANT_READ ? Input::Ok : fail("handshake failed", e);
    }
    established_ = true;
  }
  for (;;) {
    const std::span<std::uint8_t> space = plain.write_space(kMaxRecordPlain);
    std::size_t n = 0;
    const int rc = SSL_read_ex(ssl_, space.data(), space.size(), &n);
    plain.commit(rc == 1 ? n : 0);
    // Nothing buffered on either side of the session: another SSL_read
    // could only fail with WANT_READ, and with SSL_MODE_RELEASE_BUFFERS it
    // would allocate and free a record buffer to find that out.
    if (rc == 1 && BIO_ctrl_pending(in_) == 0 && SSL_has_pending(ssl_) == 0) break;
    if (rc == 1) continue;
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) return Input::Closed;
    return fail("read failed", e);
  }
  // A TLS 1.3 KeyUpdate that asked for ours: OpenSSL writes it at the next
  // SSL_write or SSL_do_handshake, and an idle client may never get a write.
  if (SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE) SSL_do_handshake(ssl_);
  return Input::Ok;
}

TlsSession::Input TlsSession::fail(const char* what, int ssl_error) {
  const char* fallback = ssl_error == SSL_ERROR_SYSCALL ? "unexpected end of input" : "TLS error";
  why_ = std::string(what) + ": " + last_error(fallback);
  if (!established_ && !looks_like_tls_) {
    why_ += side_ == Side::Server ? " (the client is not speaking TLS: plaintext sent to the TLS port?)"
                                  : " (the server is not speaking TLS: is this its plaintext port?)";
  }
  return Input::Failed;
}

bool TlsSession::encrypt(ByteView plain) {
  if (!established_ || shut_) return false;
  ERR_clear_error();
  std::size_t n = 0;
  if (SSL_write_ex(ssl_, plain.data(), plain.size(), &n) != 1 || n != plain.size()) {
    why_ = "write failed: " + last_error("TLS error");
    return false;
  }
  return true;
}

void TlsSession::close_notify() {
  if (shut_ || !established_) return;
  shut_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsSession::take_output(Bytes& out) {
  const std::size_t n = BIO_ctrl_pending(out_);
  if (n == 0) return;
  const std::size_t at = out.size();
  out.resize(at + n);
  const int got = BIO_read(out_, out.data() + at, static_cast<int>(n));
  out.resize(at + (got > 0 ? static_cast<std::size_t>(got) : 0));
}

std::size_t TlsSession::output_pending() const { return BIO_ctrl_pending(out_); }

std::string TlsSession::describe() const {
  if (!established_) return "handshake not done";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

}  // namespace sc::tls
