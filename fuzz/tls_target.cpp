// The server's TLS read path (server/tls.cpp: TlsSession::feed and what it
// hands to the FrameDecoder), with a real handshake done in memory against
// an OpenSSL client.  The server context is the server's own: tls::Config
// loads a certificate and key this target makes once, at start.
//
// Control byte, bits 0-1, what the rest of the input becomes:
//   0  the client's first bytes, before any handshake (ClientHello parsing,
//      plaintext on the TLS port, alerts, garbage);
//   1  raw records after a finished handshake (bad MACs, alerts, a
//      renegotiation attempt, record headers with absurd lengths), fed in
//      chunks of sizes taken from the control byte;
//   2  plaintext the client encrypts after the handshake, in pieces whose
//      sizes come from the input: frames cut at any record boundary reach
//      the FrameDecoder behind TLS;
//   3  the first half as in 2, the second half as raw records: a valid
//      stream followed by garbage.
// Invariants: feed() never reports Ok after it reported Failed or Closed;
// once established the session stays established; every frame decoded from
// encrypted plaintext was sent whole by the client.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "invariants.hpp"
#include "server/tls.hpp"
#include "targets.hpp"

namespace sc::fuzz {

namespace {

namespace tls = sc::server::tls;
using tls::TlsSession;

// A self-signed P-256 certificate and key in two temporary PEM files,
// removed once tls::Config has loaded them.
struct TempPem {
  std::string cert = "/tmp/sockchat-fuzz-cert-XXXXXX";
  std::string key = "/tmp/sockchat-fuzz-key-XXXXXX";
  ~TempPem() {
    unlink(cert.c_str());
    unlink(key.c_str());
  }
};

bool write_pem(std::string& path, EVP_PKEY* pkey, X509* x509) {
  const int fd = mkstemp(path.data());
  if (fd < 0) return false;
  FILE* f = fdopen(fd, "w");
  if (f == nullptr) {
    close(fd);
    return false;
  }
  const bool ok = x509 != nullptr ? PEM_write_X509(f, x509) == 1
                                  : PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  return fclose(f) == 0 && ok;
}

std::shared_ptr<SSL_CTX> make_server_ctx() {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x509 = X509_new();
  FUZZ_REQUIRE(pkey != nullptr && x509 != nullptr);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3600L * 24 * 365);
  X509_set_pubkey(x509, pkey);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  FUZZ_REQUIRE(X509_sign(x509, pkey, EVP_sha256()) > 0);
  TempPem pem;
  FUZZ_REQUIRE(write_pem(pem.cert, pkey, x509) && write_pem(pem.key, pkey, nullptr));
  X509_free(x509);
  EVP_PKEY_free(pkey);
  static tls::Config config(pem.cert, pem.key);
  std::string why;
  if (!config.load(why)) std::fprintf(stderr, "tls fuzz target: %s\n", why.c_str());
  FUZZ_REQUIRE(config.current() != nullptr);
  return config.current();
}

SSL_CTX* make_client_ctx() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  FUZZ_REQUIRE(ctx != nullptr);
  static const unsigned char alpn[] = "\x0asockchat/1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the peer is our own server
  return ctx;
}

// One connection: the server's session and an OpenSSL client on memory BIOs.
struct Pair {
  TlsSession server;
  SSL* client = nullptr;
  BIO* to_client = nullptr;    // what the server sent, for the client to read
  BIO* from_client = nullptr;  // what the client wrote, for the server
  FrameDecoder decoder{Role::Server, 65536};
  TlsSession::Input last = TlsSession::Input::Ok;

  explicit Pair(SSL_CTX* server_ctx, SSL_CTX* client_ctx) : server(server_ctx) {
    client = SSL_new(client_ctx);
    to_client = BIO_new(BIO_s_mem());
    from_client = BIO_new(BIO_s_mem());
    SSL_set_bio(client, to_client, from_client);
    SSL_set_connect_state(client);
  }
  ~Pair() { SSL_free(client); }

  // Feeds the server; checks that a finished session stays finished.
  void feed_server(const std::uint8_t* p, std::size_t n) {
    if (last != TlsSession::Input::Ok) return;
    const bool was_established = server.established();
    last = server.feed(ByteView(p, n), decoder);
    FUZZ_REQUIRE(!was_established || server.established());
    Bytes out;
    server.take_output(out);
    if (!out.empty()) BIO_write(to_client, out.data(), static_cast<int>(out.size()));
  }

  void pump_client() {
    char buf[16384];
    int n;
    while ((n = BIO_read(from_client, buf, sizeof buf)) > 0) {
      feed_server(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n));
    }
  }

  bool handshake() {
    for (int round = 0; round < 8 && last == TlsSession::Input::Ok; ++round) {
      SSL_do_handshake(client);
      pump_client();
      if (server.established() && SSL_is_init_finished(client)) return true;
    }
    return false;
  }
};

void feed_raw(Pair& pair, const std::uint8_t* data, std::size_t size, std::size_t chunk) {
  for (std::size_t at = 0; at < size; at += chunk) pair.feed_server(data + at, std::min(chunk, size - at));
}

// Pieces: a length byte, then that many bytes the client encrypts.
void feed_encrypted(Pair& pair, const std::uint8_t* data, std::size_t size) {
  Bytes sent;
  while (size > 0 && pair.last == TlsSession::Input::Ok) {
    const std::size_t n = std::min<std::size_t>(data[0], size - 1);
    if (n > 0) {
      FUZZ_REQUIRE(SSL_write(pair.client, data + 1, static_cast<int>(n)) == static_cast<int>(n));
      sent.insert(sent.end(), data + 1, data + 1 + n);
    }
    data += 1 + n;
    size -= 1 + n;
    pair.pump_client();
  }
  // Every frame the decoder yields came out of what the client sent, whole.
  Frame f;
  std::size_t at = 0;
  while (pair.decoder.next(f) == DecodeResult::Frame) {
    FUZZ_REQUIRE(at + kHeaderSize + f.payload.size() <= sent.size());
    FUZZ_REQUIRE(std::memcmp(sent.data() + at + kHeaderSize, f.payload.data(), f.payload.size()) == 0);
    at += kHeaderSize + f.payload.size();
  }
}

}  // namespace

int tls_records(const std::uint8_t* data, std::size_t size) {
  static const std::shared_ptr<SSL_CTX> server_ctx = make_server_ctx();
  static SSL_CTX* const client_ctx = make_client_ctx();
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  ++data;
  --size;
  Pair pair(server_ctx.get(), client_ctx);
  FUZZ_REQUIRE(pair.server.valid());
  const std::size_t chunk = std::size_t{1} << ((control >> 2) & 0x0F);  // 1 .. 32768
  switch (control & 3) {
    case 0: feed_raw(pair, data, size, chunk); break;
    case 1:
      FUZZ_REQUIRE(pair.handshake());
      feed_raw(pair, data, size, chunk);
      break;
    case 2:
      FUZZ_REQUIRE(pair.handshake());
      feed_encrypted(pair, data, size);
      break;
    default:
      FUZZ_REQUIRE(pair.handshake());
      feed_encrypted(pair, data, size / 2);
      feed_raw(pair, data + size / 2, size - size / 2, chunk);
      break;
  }
  return 0;
}

}  // namespace sc::fuzz
