// The client's TLS policy: its SSL_CTX (TLS 1.2 at least, ALPN sockchat/1,
// the system CA store or --tls-ca, SSLKEYLOGFILE), the per-connection
// settings (SNI, the host name to verify), and the verdict on the server
// once the handshake is done: verified by a CA, pinned by
// --tls-fingerprint, known from known_servers, to be asked about, or
// refused with the reason.
//
// Trust on first use applies only to a chain that no trusted CA signed
// (self-signed, unknown issuer) and only when neither --tls-ca nor
// --tls-fingerprint was given: then the key, not the certificate, is what
// is trusted, as ssh does, so its expiry and names are not checked.  A chain
// a trusted CA signed that fails for another reason (expired, another host
// name) is refused and never offered for TOFU: that is a misconfigured or
// impersonated server, not an unknown one.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "known_servers.hpp"
#include "transport.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace sc::tui {

struct TlsOptions {
  std::string ca_file;                 // --tls-ca: trust this CA instead of the system's
  std::optional<Fingerprint> pin;      // --tls-fingerprint
  bool interactive = false;            // may ask the user (not in --plain)
  std::string known_servers;           // the file; empty: none (no HOME)
};

// One SSL_CTX for every connection of the process.
class TlsClient {
 public:
  // nullptr with `why` when the context or the CA file cannot be loaded.
  static std::shared_ptr<TlsClient> make(TlsOptions options, std::string& why);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  const TlsOptions& options() const { return options_; }

  // SNI (not for an IP literal) and the name or address the certificate
  // must be for.  False with `why`.
  bool prepare(SSL* ssl, const std::string& host, std::string& why) const;

  struct Verdict {
    enum class Kind : std::uint8_t { Accept, Ask, Refuse } kind = Kind::Refuse;
    Security::Trust trust = Security::Trust::None;
    std::string text;  // Ask: the question; Refuse: why
    Fingerprint fingerprint{};
  };
  // After the handshake.  `server` is server_key(host, port).
  Verdict judge(SSL* ssl, const std::string& host, const std::string& server) const;
  // The user said yes: remembers the key.  Returns a note for the user.
  std::string remember(const std::string& server, const Fingerprint& fp) const;

 private:
  TlsClient(SSL_CTX* ctx, TlsOptions options) : ctx_(ctx), options_(std::move(options)) {}
  Verdict judge_unverified(long result, const std::string& host, const std::string& server,
                           const Fingerprint& fp) const;
  Verdict judge_by_known(const std::string& reason, const std::string& server, const Fingerprint& fp) const;

  SSL_CTX* ctx_;
  TlsOptions options_;
};

}  // namespace sc::tui
