// TLS for sockchatd: the server's SSL_CTX (loaded from --tls-cert and
// --tls-key, swapped on SIGHUP) and one TlsSession per TLS connection.
//
// OpenSSL never touches a socket here: each session reads ciphertext from a
// memory BIO that the connection thread fills with what its own recv()
// returned, and writes ciphertext to a memory BIO that the caller empties
// and sends with its own send() (the project's rule: all network I/O
// through the C socket API).  A TlsSession is not thread-safe, and OpenSSL
// forbids using one SSL from two threads at once: its owner (Peer) calls it
// only under its lock.  Plaintext connections have no session and pay
// nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/codec.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace sc::server::tls {

// The ALPN protocol id clients must offer when they offer any.
inline constexpr char kAlpn[] = "sockchat/1";

// The current certificate and key.  Connection threads never see this: the
// main thread takes current() when it accepts, and SSL_new() keeps its own
// reference to the SSL_CTX, so a reload never pulls one from under a session.
class Config {
 public:
  Config(std::string cert_file, std::string key_file)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

  // Loads the files; false (and the old context kept) with `why` on failure.
  bool load(std::string& why);
  std::shared_ptr<SSL_CTX> current() const;
  const std::string& cert_file() const { return cert_file_; }

 private:
  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_;
};

// Ciphertext bytes that `plain` plaintext bytes can become at most, with the
// cipher suites Config allows (AEAD only: at most 29 bytes per record of at
// most 16 KiB): what --sendq is checked against before encrypting.
std::size_t cipher_bound(std::size_t plain);

class TlsSession {
 public:
  explicit TlsSession(SSL_CTX* ctx);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool valid() const { return ssl_ != nullptr; }
  bool established() const { return established_; }

  enum class Input { Ok, Closed, Failed };
  // Feeds ciphertext the socket returned: advances the handshake, then
  // appends all the plaintext it decrypts to `plain`.  Closed: the client
  // sent close_notify.  Failed: `why()` says what went wrong.  Whatever
  // OpenSSL must answer (handshake messages, tickets, a KeyUpdate, an alert)
  // is left in the output for take_output().
  Input feed(ByteView cipher, FrameDecoder& plain);
  // Encrypts `plain` into the output; false when the session cannot write.
  bool encrypt(ByteView plain);
  // Puts close_notify in the output (once).
  void close_notify();
  // Appends the ciphertext waiting to be sent to `out`.
  void take_output(Bytes& out);
  std::size_t output_pending() const;

  const std::string& why() const { return why_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", once established.
  std::string describe() const;

 private:
  Input fail(const char* what, int ssl_error);

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  bool established_ = false;
  bool first_byte_seen_ = false;
  bool looks_like_tls_ = true;  // the first byte was a TLS handshake record
  bool shut_ = false;
  std::string why_;
};

}  // namespace sc::server::tls
