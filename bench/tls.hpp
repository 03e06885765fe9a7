// TLS for the load generator (--tls): one client SSL_CTX for every
// connection, and the blocking handshake of the probe.  The loops drive
// common/'s TlsSession over memory BIOs, as the client and server do.
#pragma once

#include <string>

#include "common/tls_session.hpp"

namespace sc::bench {

// TLS 1.2 or later, ALPN sockchat/1, no certificate verification: the
// bench measures a server on a machine you run it on, and verification
// costs the same whatever the server; what is measured is the session.
// Null, with `err`, when OpenSSL cannot make one.  Shared by every thread
// (an SSL_CTX may make SSLs from several threads at once).
SSL_CTX* client_ctx(std::string& err);

// Runs the handshake of `tls` on blocking-with-timeout fd: sends what the
// session writes, feeds it what arrives, until established.
bool handshake(int fd, tls::TlsSession& tls, FrameDecoder& plain, int timeout_ms, std::string& err);

// Sends `tls`'s pending ciphertext on fd (blocking, with a timeout).
bool send_pending(int fd, tls::TlsSession& tls, int timeout_ms);

}  // namespace sc::bench
