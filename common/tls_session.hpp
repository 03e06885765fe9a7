// One TLS connection's state machine over memory BIOs, for either side:
// the server's TlsSession per accepted TLS client and the client's TLS
// transport both drive it.
//
// OpenSSL never touches a socket here: the session reads ciphertext from a
// memory BIO that the caller fills with what its own recv() returned, and
// writes ciphertext to a memory BIO that the caller empties and sends with
// its own send() (the project's rule: all network I/O through the C socket
// API).  Bytes in, bytes out: no sockets, no threads, no logging.  A
// TlsSession is not thread-safe, and OpenSSL forbids using one SSL from two
// threads at once: its owner says in a comment which lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/codec.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace sc::tls {

// The ALPN protocol id: servers select it, clients offer it.
inline constexpr char kAlpn[] = "sockchat/1";
// The same in the wire format of an ALPN list (length byte, then the id).
inline constexpr unsigned char kAlpnWire[] = "\x0asockchat/1";

// The most recent OpenSSL error of this thread in words, the queue cleared.
std::string last_error(const char* fallback);

class TlsSession {
 public:
  // Server: waits for a ClientHello.  Client: the first feed() (even of no
  // bytes) writes the ClientHello to the output.
  enum class Side : std::uint8_t { Server, Client };
  explicit TlsSession(SSL_CTX* ctx, Side side = Side::Server);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool valid() const { return ssl_ != nullptr; }
  bool established() const { return established_; }
  // For settings before the handshake (SNI, host name to verify) and facts
  // after it (the peer's certificate, the verify result).
  SSL* native() const { return ssl_; }

  enum class Input { Ok, Closed, Failed };
  // Feeds ciphertext the socket returned: advances the handshake, then
  // appends all the plaintext it decrypts to `plain`.  Closed: the peer
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
  Side side_;
  bool established_ = false;
  bool first_byte_seen_ = false;
  bool looks_like_tls_ = true;  // the first byte was a TLS handshake record
  bool shut_ = false;
  std::string why_;
};

}  // namespace sc::tls
