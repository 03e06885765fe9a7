#include "bench/tls.hpp"

#include <openssl/ssl.h>
#include <poll.h>

#include <chrono>

#include "common/net.hpp"

namespace sc::bench {

SSL_CTX* client_ctx(std::string& err) {
  static SSL_CTX* const ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (c == nullptr) return c;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_alpn_protos(c, tls::kAlpnWire, sizeof tls::kAlpnWire - 1);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return c;
  }();
  if (ctx == nullptr) err = tls::last_error("cannot make a TLS context");
  return ctx;
}

bool send_pending(int fd, tls::TlsSession& tls, int timeout_ms) {
  Bytes out;
  tls.take_output(out);
  return out.empty() || net::send_all(fd, out.data(), out.size(), timeout_ms);
}

bool handshake(int fd, tls::TlsSession& tls, FrameDecoder& plain, int timeout_ms, std::string& err) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::uint8_t buf[16 * 1024];
  ByteView in;
  for (;;) {
    if (tls.feed(in, plain) != tls::TlsSession::Input::Ok) {
      err = "TLS handshake: " + tls.why();
      return false;
    }
    if (!send_pending(fd, tls, timeout_ms)) {
      err = "TLS handshake: send failed";
      return false;
    }
    if (tls.established()) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      err = "TLS handshake: no answer in time (is this the server's TLS port?)";
      return false;
    }
    const net::IoResult r = net::recv_some(fd, buf, sizeof buf);
    if (r.status != net::IoStatus::Ok) {
      err = "TLS handshake: the server closed the connection";
      return false;
    }
    in = ByteView(buf, r.bytes);
  }
}

}  // namespace sc::bench
