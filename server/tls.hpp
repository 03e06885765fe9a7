// TLS for sockchatd: the server's SSL_CTX (loaded from --tls-cert and
// --tls-key, swapped on SIGHUP) and one TlsSession per TLS connection.
//
// The session over memory BIOs lives in common/tls_session.hpp (the client
// drives the same one).  A TlsSession is not thread-safe, and OpenSSL
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
#include "common/tls_session.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace sc::server::tls {

// The ALPN protocol id clients must offer when they offer any.
using sc::tls::kAlpn;

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

// One TLS client's session (common/tls_session.hpp); Peer owns it.
using TlsSession = sc::tls::TlsSession;

}  // namespace sc::server::tls
