// The TLS test client, shared by the TLS and sign-in tests: a CA and server
// certificate made at test time with the openssl command, a server with a
// TLS listener, and a client of the sockchat protocol that drives OpenSSL
// through memory BIOs over a raw socket, so a test can choose how the
// ciphertext reaches the server (one byte per send(), say) and can see
// close_notify.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "harness.hpp"

namespace sc::itest {

[[noreturn]] inline void die(const std::string& what) { throw std::runtime_error(what); }

inline std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

inline int run_quiet(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// A CA and a server certificate signed by it, made once per test binary.
// No openssl command fails each case that needs one: openssl is a test
// dependency (scripts/lib.sh), and exiting 77 mid-run would hide the
// verdicts of the cases that ran before.
struct Pki {
  std::string dir;
  std::string ca, cert, key;

  Pki() {
    if (run_quiet("command -v openssl") != 0) {
      die("the openssl command is not installed (a test dependency: scripts/lib.sh SOCKCHAT_TEST_DEPS)");
    }
    std::string templ = (std::filesystem::temp_directory_path() / "sockchat-tls-XXXXXX").string();
    if (!mkdtemp(templ.data())) die("mkdtemp failed");
    dir = templ;
    ca = dir + "/ca.pem";
    make("a", "localhost");
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Makes (or remakes) a server certificate `cert`/`key` named `tag`.
  void make(const std::string& tag, const std::string& cn) {
    const std::string d = shell_quote(dir);
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    if (!std::filesystem::exists(ca)) {
      if (run_quiet("cd " + d + " && openssl req -x509 " + ec +
                    " -keyout ca.key -out ca.pem -days 2 -subj /CN=sockchat-test-ca") != 0) {
        die("openssl: cannot make the CA");
      }
      std::ofstream(dir + "/ext.cnf") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    }
    cert = dir + "/server-" + tag + ".pem";
    key = dir + "/server-" + tag + ".key";
    const std::string cmd =
        "cd " + d + " && openssl req " + ec + " -keyout server-" + tag + ".key -out server-" +
        tag + ".csr -subj /CN=" + cn + " && openssl x509 -req -in server-" + tag +
        ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server-" +
        tag + ".pem";
    if (run_quiet(cmd) != 0) die("openssl: cannot make the server certificate");
  }
};

inline Pki& pki() {
  static Pki p;
  return p;
}

// A server with a TLS listener on a free port (plaintext beside it).
struct TlsServer {
  explicit TlsServer(std::vector<std::string> extra = {}, std::string bind = "127.0.0.1")
      : port_file(pki().dir + "/tls-port-" + std::to_string(counter()++)),
        server(ServerOptions{with_tls(std::move(extra), port_file), std::move(bind), {}}) {
    const auto deadline = Clock::now() + Ms(10000);
    while (Clock::now() < deadline) {
      std::ifstream in(port_file);
      unsigned p = 0;
      if (in >> p && p != 0) {
        tls_port = static_cast<std::uint16_t>(p);
        return;
      }
      std::this_thread::sleep_for(Ms(10));
    }
    die("no TLS port file; log:\n" + server.log());
  }
  ~TlsServer() { std::remove(port_file.c_str()); }

  static int& counter() {
    static int n = 0;
    return n;
  }
  static std::vector<std::string> with_tls(std::vector<std::string> extra, const std::string& pf) {
    std::vector<std::string> a = {"--tls-cert", pki().cert, "--tls-key", pki().key,
                                  "--tls-port", "0",        "--tls-port-file", pf};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::string port_file;
  Server server;
  std::uint16_t tls_port = 0;
};

// A TCP connection to an IPv4 address (the server's --bind), from the
// 127.0.0.0/8 address `source` when given (per-address limits: each is a
// different client to the server).
inline int connect_ipv4(const std::string& host, std::uint16_t port, const std::string& source = {}) {
  const int fd = connect_with(host, port, ClientOptions(0, false, source));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct TlsOptions {
  std::string alpn = "sockchat/1";  // empty: offer no ALPN at all
  bool one_byte = false;             // every ciphertext byte in its own send()
  int max_version = 0;               // e.g. TLS1_2_VERSION; 0: the default (1.3)
  std::string host = "127.0.0.1";    // the server's address; its name is always localhost
  std::string source;                // our address (connect_ipv4()); empty: any
};

// A TLS client of the sockchat protocol over memory BIOs.
class TlsClient {
 public:
  explicit TlsClient(std::uint16_t port, TlsOptions o = {}) : o_(std::move(o)) {
    fd_ = connect_ipv4(o_.host, port, o_.source);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_, pki().ca.c_str(), nullptr) != 1) die("load CA");
    if (o_.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, o_.max_version);
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
    if (!o_.alpn.empty()) {
      std::string wire(1, static_cast<char>(o_.alpn.size()));
      wire += o_.alpn;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // The handshake, then HELLO; false when the handshake fails.
  bool start(Ms bound = kWait) {
    if (!handshake(bound)) return false;
    hello_ = as_hello(indication(Type::Hello, bound));
    return true;
  }
  bool handshake(Ms bound = kWait) {
    const auto deadline = Clock::now() + bound;
    for (;;) {
      ERR_clear_error();
      const int rc = SSL_do_handshake(ssl_);
      push();
      if (rc == 1) return true;
      if (SSL_get_error(ssl_, rc) != SSL_ERROR_WANT_READ) return false;
      if (!pull(deadline)) return false;
    }
  }

  SSL* ssl() { return ssl_; }
  int fd() const { return fd_; }
  const Hello& hello() const { return hello_; }
  std::uint32_t id() const { return hello_.client_id; }
  bool close_notify_seen() const { return notified_; }

  std::uint32_t add_request(Bytes& out, Type type, ByteView payload = {}) {
    const std::uint32_t id = next_id_++;
    const std::size_t at = begin_frame(out, Kind::Request, static_cast<std::uint8_t>(type), 0, id);
    out.insert(out.end(), payload.begin(), payload.end());
    end_frame(out, at);
    return id;
  }
  void send_plain(const Bytes& plain) {
    std::size_t n = 0;
    if (SSL_write_ex(ssl_, plain.data(), plain.size(), &n) != 1) die("SSL_write failed");
    push();
  }
  std::uint32_t request(Type type, ByteView payload = {}) {
    Bytes b;
    const std::uint32_t id = add_request(b, type, payload);
    send_plain(b);
    return id;
  }
  OwnedFrame call(Type type, ByteView payload = {}) { return response(request(type, payload)); }

  std::optional<OwnedFrame> take_if(const std::function<bool(const OwnedFrame&)>& match,
                                    Ms timeout) {
    if (auto f = take_from_backlog(backlog_, match)) return f;
    const auto deadline = Clock::now() + timeout;
    OwnedFrame f;
    while (read_frame(deadline, f)) {
      if (match(f)) return f;
      backlog_.push_back(std::move(f));
    }
    return std::nullopt;
  }
  OwnedFrame response(std::uint32_t id, Ms timeout = kWait) {
    auto f = take_if([&](const OwnedFrame& x) { return x.kind() == Kind::Response && x.id() == id; },
                     timeout);
    if (!f) die("no response to request " + std::to_string(id));
    return *f;
  }
  OwnedFrame indication(Type type, Ms timeout = kWait) {
    auto f = take_if(
        [&](const OwnedFrame& x) { return x.kind() == Kind::Indication && x.type() == type; },
        timeout);
    if (!f) die(std::string("no ") + type_name(static_cast<std::uint8_t>(type)) + " indication");
    return *f;
  }
  // Reads until the server ends the stream (close_notify or EOF).
  bool wait_closed(Ms timeout = kWait) {
    const auto deadline = Clock::now() + timeout;
    OwnedFrame f;
    while (read_frame(deadline, f)) backlog_.push_back(std::move(f));
    return notified_ || eof_;
  }

 private:
  // Sends what OpenSSL wrote.
  void push() {
    char buf[16384];
    int n;
    while ((n = BIO_read(out_, buf, sizeof buf)) > 0) {
      const std::size_t step = o_.one_byte ? 1 : static_cast<std::size_t>(n);
      for (int at = 0; at < n; at += static_cast<int>(step)) {
        const std::size_t len = std::min(step, static_cast<std::size_t>(n - at));
        if (send(fd_, buf + at, len, MSG_NOSIGNAL) != static_cast<ssize_t>(len)) return;
        if (o_.one_byte) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  // One recv() into OpenSSL; false at EOF, error or the deadline.
  bool pull(Clock::time_point deadline) {
    const auto ms = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (ms <= 0 || poll(&p, 1, static_cast<int>(ms)) <= 0) return false;
    char buf[16384];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    BIO_write(in_, buf, static_cast<int>(n));
    return true;
  }
  bool read_frame(Clock::time_point deadline, OwnedFrame& out) {
    for (;;) {
      if (decode_frame(dec_, out)) return true;
      if (notified_ || eof_) return false;
      std::uint8_t buf[16384];
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) {
        dec_.feed(ByteView(buf, n));
        continue;
      }
      const int e = SSL_get_error(ssl_, 0);
      push();  // a KeyUpdate answer, say
      if (e == SSL_ERROR_ZERO_RETURN) {
        notified_ = true;
        return false;
      }
      if (e != SSL_ERROR_WANT_READ) {
        eof_ = true;
        return false;
      }
      if (!pull(deadline)) return false;
    }
  }

  TlsOptions o_;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  FrameDecoder dec_{Role::Client, 16 * 1024 * 1024};
  std::deque<OwnedFrame> backlog_;
  std::uint32_t next_id_ = 1;
  Hello hello_;
  bool notified_ = false;
  bool eof_ = false;
};

// Waits until the server's log contains `text`.
inline bool log_shows(const Server& s, const std::string& text, Ms bound = kWait) {
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    if (s.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(Ms(20));
  }
  return false;
}

}  // namespace sc::itest
