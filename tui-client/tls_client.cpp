#include "tls_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/tls_session.hpp"

namespace sc::tui {

namespace {

// SSLKEYLOGFILE, read once: the file the session secrets are appended to,
// in the NSS key log format that Wireshark reads, as curl and browsers do.
std::string& keylog_path() {
  static std::string path;
  return path;
}

void write_keylog_line(const SSL*, const char* line) {
  const int fd = open(keylog_path().c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;  // like curl: a key log that cannot be written is no reason to fail
  const std::string text = std::string(line) + "\n";
  if (write(fd, text.data(), text.size()) < 0) {
    // Nothing to do: the connection works without its key log.
  }
  close(fd);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Errors that mean "no trusted CA signed this chain", as opposed to a
// trusted chain that is wrong (expired, for another host).
bool untrusted_chain(long result) {
  switch (result) {
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED: return true;
    default: return false;
  }
}

// SHA-256 of the DER SubjectPublicKeyInfo, as curl's --pinnedpubkey and
// `openssl pkey -pubin -outform der | openssl dgst -sha256` compute it.
// (X509_pubkey_digest() hashes only the key's bit string: not that.)
bool key_fingerprint(X509* cert, Fingerprint& fp) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return false;
  unsigned int md_len = 0;
  const bool ok = EVP_Digest(der, static_cast<std::size_t>(len), fp.data(), &md_len, EVP_sha256(), nullptr) == 1 &&
                  md_len == fp.size();
  OPENSSL_free(der);
  return ok;
}

TlsClient::Verdict accept(Security::Trust trust, const Fingerprint& fp) {
  return TlsClient::Verdict{TlsClient::Verdict::Kind::Accept, trust, {}, fp};
}

TlsClient::Verdict refuse(std::string why, const Fingerprint& fp = {}) {
  return TlsClient::Verdict{TlsClient::Verdict::Kind::Refuse, Security::Trust::None, std::move(why), fp};
}

}  // namespace

std::shared_ptr<TlsClient> TlsClient::make(TlsOptions options, std::string& why) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    why = "cannot create a TLS context: " + tls::last_error("out of memory");
    return nullptr;
  }
  std::shared_ptr<TlsClient> c(new TlsClient(ctx, std::move(options)));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Failures do not stop the handshake: judge() decides afterwards, so that
  // it can name the reason, fall back to a pinned key, or ask the user.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  const std::string& ca = c->options_.ca_file;
  const int loaded = ca.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                : SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  if (loaded != 1) {
    why = (ca.empty() ? std::string("cannot load the system's CA certificates")
                      : "cannot load the CA certificate from " + ca) +
          ": " + tls::last_error("unknown error");
    return nullptr;
  }
  if (const char* kl = std::getenv("SSLKEYLOGFILE"); kl != nullptr && kl[0] != '\0') {
    keylog_path() = kl;
    SSL_CTX_set_keylog_callback(ctx, write_keylog_line);
  }
  return c;
}

TlsClient::~TlsClient() { SSL_CTX_free(ctx_); }

bool TlsClient::prepare(SSL* ssl, const std::string& host, std::string& why) const {
  bool ok = SSL_set_alpn_protos(ssl, tls::kAlpnWire, sizeof tls::kAlpnWire - 1) == 0;
  if (is_ip_literal(host)) {
    // No SNI for addresses (RFC 6066); the certificate must name the address.
    ok = ok && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  } else {
    ok = ok && SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
  }
  if (!ok) why = "cannot set up TLS for " + host + ": " + tls::last_error("unknown error");
  return ok;
}

TlsClient::Verdict TlsClient::judge(SSL* ssl, const std::string& host, const std::string& server) const {
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn_len != 0 && std::string_view(reinterpret_cast<const char*>(alpn), alpn_len) != tls::kAlpn) {
    return refuse("the server chose another application protocol than sockchat/1");
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  Fingerprint fp{};
  if (cert == nullptr || !key_fingerprint(cert, fp)) return refuse("the server sent no usable certificate");
  const long result = SSL_get_verify_result(ssl);
  if (options_.pin) {
    if (fp != *options_.pin) {
      return refuse("the server's key " + format_fingerprint(fp) + " is not the one given with --tls-fingerprint (" +
                        format_fingerprint(*options_.pin) + ")",
                    fp);
    }
    // With --tls-ca as well, both must hold.
    if (options_.ca_file.empty() || result == X509_V_OK) return accept(Security::Trust::PinnedKey, fp);
  }
  if (result == X509_V_OK) return accept(Security::Trust::Ca, fp);
  return judge_unverified(result, host, server, fp);
}

TlsClient::Verdict TlsClient::judge_unverified(long result, const std::string& host, const std::string& server,
                                               const Fingerprint& fp) const {
  std::string reason = X509_verify_cert_error_string(result);
  if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    reason += " (the certificate is not for " + host + ")";
  }
  if (!untrusted_chain(result)) {
    return refuse("certificate verification failed: " + reason + "; a CA signed it, so it is not offered for trust on first use", fp);
  }
  if (!options_.ca_file.empty()) {
    return refuse("certificate verification failed: " + reason + " (no chain to the CA in " + options_.ca_file + ")",
                  fp);
  }
  if (options_.pin) return refuse("certificate verification failed: " + reason, fp);
  return judge_by_known(reason, server, fp);
}

TlsClient::Verdict TlsClient::judge_by_known(const std::string& reason, const std::string& server,
                                             const Fingerprint& fp) const {
  const std::string& file = options_.known_servers;
  KnownServers known;
  std::string why;
  if (!file.empty() && !load_known_servers(file, known, why)) return refuse(why, fp);
  const KnownMatch m = match_known_server(known, server, fp);
  const std::string key = format_fingerprint(fp);
  if (m.what == KnownMatch::What::Same) return accept(Security::Trust::KnownKey, fp);
  if (m.what == KnownMatch::What::Changed) {
    const std::string where = "line " + std::to_string(m.line) + " of " + file;
    return refuse("THE SERVER'S KEY HAS CHANGED: " + server + " now presents key " + key + ", but " + where +
                      " remembers another one.  Someone may be intercepting the connection, or the server got "
                      "a new key.  If you know it did, remove " + where + " and connect again.",
                  fp);
  }
  if (!options_.interactive) {
    return refuse("cannot verify the server's certificate (" + reason + "); its key is " + key +
                      ".  To trust it, connect with --tls-fingerprint " + key +
                      " or give its CA with --tls-ca FILE (--plain never asks)",
                  fp);
  }
  Verdict v{Verdict::Kind::Ask, Security::Trust::None, {}, fp};
  v.text = "the certificate of " + server + " cannot be verified (" + reason + ").  Its key is " + key +
           ".  Trust it and remember it in " + (file.empty() ? std::string("(no file: HOME unset)") : file) +
           "? (yes/no)";
  return v;
}

std::string TlsClient::remember(const std::string& server, const Fingerprint& fp) const {
  const std::string& file = options_.known_servers;
  if (file.empty()) return "the key is trusted for this connection only: no HOME to keep known_servers in";
  std::string why;
  const int line = append_known_server(file, server, fp, why);
  if (line == 0) return "the key is trusted for this connection only: " + why;
  return "remembered the key of " + server + " in " + file + " line " + std::to_string(line);
}

}  // namespace sc::tui
