#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>

namespace sc::server::tls {
namespace {

// TLS 1.2 suites for the clients that cannot do 1.3: forward secret and
// AEAD only (Mozilla's "intermediate" profile).  TLS 1.3's suites are all
// AEAD and keep OpenSSL's defaults.
constexpr char kTls12Ciphers[] = "ECDHE+AESGCM:ECDHE+CHACHA20";
// Per record: 5 bytes of header, an 8-byte explicit nonce (1.2 GCM) and a
// 16-byte tag; 1.3 adds one content-type byte but no nonce.
constexpr std::size_t kRecordOverhead = 29;
constexpr std::size_t kMaxRecordPlain = 16384;

// The most recent OpenSSL error of this thread in words, the queue cleared.
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

// Accepts a client that offers sockchat/1 among its ALPN ids and refuses
// (no_application_protocol) one that offers only others; OpenSSL does not
// call this for a client that offers none, which is accepted.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kWire[] = "\x0asockchat/1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kWire, sizeof kWire - 1, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

bool Config::load(std::string& why) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) {
    why = "cannot create a TLS context: " + last_error("out of memory");
    return false;
  }
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // Renegotiation only ever served attacks and a CPU-exhaustion lever; an
  // unexpected EOF is how most clients leave, not an error.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                             SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections hand their record buffers back.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    why = "cannot set the TLS 1.2 cipher suites: " + last_error("unknown error");
    return false;
  }
  if (SSL_CTX_use_certificate_chain_file(c, cert_file_.c_str()) != 1) {
    why = "cannot load the certificate from " + cert_file_ + ": " + last_error("unknown error");
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(c, key_file_.c_str(), SSL_FILETYPE_PEM) != 1) {
    why = "cannot load the private key from " + key_file_ + ": " + last_error("unknown error");
    return false;
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    why = "the key in " + key_file_ + " does not match the certificate in " + cert_file_;
    ERR_clear_error();
    return false;
  }
  SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
  std::lock_guard lock(mu_);
  ctx_ = std::move(ctx);
  return true;
}

std::shared_ptr<SSL_CTX> Config::current() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

std::size_t cipher_bound(std::size_t plain) {
  return plain + (plain + kMaxRecordPlain - 1) / kMaxRecordPlain * kRecordOverhead;
}

TlsSession::TlsSession(SSL_CTX* ctx) {
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
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

TlsSession::Input TlsSession::feed(ByteView cipher, FrameDecoder& plain) {
  if (!first_byte_seen_ && !cipher.empty()) {
    first_byte_seen_ = true;
    looks_like_tls_ = cipher[0] == 0x16;  // a handshake record: ClientHello
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
    why_ += " (the client is not speaking TLS: plaintext sent to the TLS port?)";
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

}  // namespace sc::server::tls
