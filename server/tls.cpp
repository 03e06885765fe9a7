#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>

namespace sc::server::tls {
namespace {

using sc::tls::last_error;

// TLS 1.2 suites for the clients that cannot do 1.3: forward secret and
// AEAD only (Mozilla's "intermediate" profile).  TLS 1.3's suites are all
// AEAD and keep OpenSSL's defaults.
constexpr char kTls12Ciphers[] = "ECDHE+AESGCM:ECDHE+CHACHA20";
// Accepts a client that offers sockchat/1 among its ALPN ids and refuses
// (no_application_protocol) one that offers only others; OpenSSL does not
// call this for a client that offers none, which is accepted.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, sc::tls::kAlpnWire, sizeof sc::tls::kAlpnWire - 1, in, inlen) ==
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

}  // namespace sc::server::tls
