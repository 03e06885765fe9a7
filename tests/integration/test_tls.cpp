// Integration: the TLS listener (--tls-cert, --tls-key, --tls-port).
//
// Certificates are made at test time with the openssl command in a private
// temp dir (a CA, and a server certificate for localhost and 127.0.0.1
// signed by it).  The test client (tls_client.hpp) is OpenSSL driven
// through memory BIOs over a raw socket.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "checks.hpp"
#include "harness.hpp"
#include "proc.hpp"
#include "tls_client.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

// True when the server closes `fd` within the bound (EOF or reset).
bool closed_by_server(int fd, Ms bound = kWait) {
  const auto deadline = Clock::now() + bound;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
  return false;
}

std::string sha256_of_peer_cert(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  unsigned char md[32];
  unsigned len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  X509_free(cert);
  return std::string(reinterpret_cast<char*>(md), len);
}

// A TLS client from `source` that the server turns away: its handshake
// completes, the first frame is ERROR `status` with `text` in it, then
// close_notify.  (Before the refusal handshakes it was closed during the
// handshake.)
TlsOptions from(const std::string& source) {
  TlsOptions o;
  o.source = source;
  return o;
}

void check_refused_over_tls(std::uint16_t port, const std::string& source, Status status,
                            const std::string& text) {
  TlsClient c(port, from(source));
  REQUIRE(c.handshake());
  const auto first = c.take_if([](const OwnedFrame&) { return true; }, kWait);
  REQUIRE(first.has_value());
  check_error_indication(*first, status);
  CHECK(first->text().find(text) != std::string::npos);
  CHECK(c.wait_closed());
  CHECK(c.close_notify_seen());
}

// Once the refusal's thread has ended (and so been reaped), plaintext
// newcomers from `source` are still refused with `status`: the refusal gave
// back no per-address count and no client slot it never had.
void check_still_refused(const TlsServer& t, long threads, const std::string& source,
                         Status status) {
  CHECK(ftest::wait_threads_at_most(t.server.pid(), threads, kWait) <= threads);
  for (int i = 0; i < 3; ++i) {
    Client c(t.server, ClientOptions(0, false, source));
    const auto f = c.next_frame(kWait);
    REQUIRE(f.has_value());
    check_error_indication(*f, status);
    CHECK(c.wait_closed());
  }
}

// A server allowing one client per address (--max-connect-rate 0: the cap
// alone is under test), that one being a TLS client from `source`; and the
// server's thread count with it connected.
struct OnePerAddress {
  explicit OnePerAddress(const std::string& source)
      : t({"--max-clients-per-ip", "1", "--max-connect-rate", "0"}), a(t.tls_port, from(source)) {
    REQUIRE(a.start());
    threads = ftest::proc_threads(t.server.pid()).value_or(0);
  }
  TlsServer t;
  TlsClient a;
  long threads = 0;
};

}  // namespace

TEST_CASE("TLS: handshake, HELLO ENCRYPTED, every request; plaintext beside it is not ENCRYPTED") {
  TlsServer t;
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  CHECK(SSL_version(a.ssl()) == TLS1_3_VERSION);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(a.ssl(), &alpn, &alpn_len);
  CHECK(std::string(reinterpret_cast<const char*>(alpn), alpn_len) == "sockchat/1");
  CHECK((a.hello().flags & kHelloEncrypted) != 0);
  CHECK(a.hello().client_id != 0);

  Client b(t.server);
  CHECK((b.hello().flags & kHelloEncrypted) == 0);

  // TIME, NAME, PING, NICK, LIST, SUBSCRIBE.
  check_ok(a.call(Type::Time), Type::Time);
  const OwnedFrame name = a.call(Type::Name);
  check_ok(name, Type::Name);
  const Bytes ping = text_payload("echo over tls");
  const OwnedFrame pong = a.call(Type::Ping, view(ping));
  check_ok(pong, Type::Ping);
  CHECK(pong.payload == ping);
  check_ok(a.call(Type::Nick, view(text_payload("tessa"))), Type::Nick);
  const OwnedFrame list = a.call(Type::List);
  check_ok(list, Type::List);
  int seen = 0;
  for (const Entry& e : as_list(list)) {
    if (e.id == a.id()) {
      ++seen;
      CHECK(e.nick == "tessa");
    }
    if (e.id == b.id()) ++seen;
  }
  CHECK(seen == 2);
  check_ok(a.call(Type::Subscribe, view(u8_payload(1))), Type::Subscribe);

  // SEND both ways with ACKs.
  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), "to plain")));
  const OwnedFrame m = b.indication(Type::Message);
  CHECK(as_message(m).text == "to plain");
  check_ok(b.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack);
  check_ok(a.response(req), Type::Send);
  const std::uint32_t req2 = b.request(Type::Send, view(send_payload(a.id(), "to tls")));
  const OwnedFrame m2 = a.indication(Type::Message);
  CHECK(as_message(m2).text == "to tls");
  check_ok(a.call(Type::Ack, view(u32_payload(m2.id()))), Type::Ack);
  check_ok(b.response(req2), Type::Send);

  // A KeyUpdate asking for ours, then more requests.
  REQUIRE(SSL_key_update(a.ssl(), SSL_KEY_UPDATE_REQUESTED) == 1);
  check_ok(a.call(Type::Time), Type::Time);
  check_ok(a.call(Type::Time), Type::Time);

  // A new client's JOINED reaches the TLS subscriber.
  Client c(t.server);
  const auto joined = a.take_if(
      [&](const OwnedFrame& f) {
        return f.type() == Type::Presence && as_presence(f).event == PresenceEvent::Joined &&
               as_presence(f).entry.id == c.id();
      },
      kWait);
  CHECK(joined.has_value());
  check_ok(c.call(Type::Subscribe, view(u8_payload(1))), Type::Subscribe);

  // BYE: OK, then close_notify before the end of the stream.
  check_ok(a.call(Type::Bye), Type::Bye);
  CHECK(a.wait_closed());
  CHECK(a.close_notify_seen());
  CHECK(presence_of(c, PresenceEvent::Left, a.id()).reason == LeaveReason::Bye);
}

TEST_CASE("TLS: 1,000 pipelined TIME requests are all answered, in order") {
  TlsServer t;
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  Bytes batch;
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(a.add_request(batch, Type::Time));
  a.send_plain(batch);
  for (std::uint32_t id : ids) {
    const OwnedFrame f = a.response(id, Ms(20000));
    check_ok(f, Type::Time);
  }
  CHECK(a.take_if([](const OwnedFrame&) { return true; }, kQuiet) == std::nullopt);
}

TEST_CASE("TLS at the smallest --sendq (max-payload + 128): the largest PING echo and a 64 KiB MESSAGE still fit") {
  // The record overhead (29 bytes per 16 KiB) is not charged against
  // --sendq: charged, a 65,552-byte echo needed 65,697 of 65,664 bytes and
  // dropped its client with SENDQ_EXCEEDED.
  TlsServer t({"--sendq", "65664"});
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  Bytes batch;
  std::vector<std::uint32_t> ids;
  const Bytes echo(65536, 0x5a);
  for (int i = 0; i < 3; ++i) {
    ids.push_back(a.add_request(batch, Type::Time));
    ids.push_back(a.add_request(batch, Type::Ping, view(echo)));
  }
  a.send_plain(batch);
  for (std::uint32_t id : ids) {
    const OwnedFrame f = a.response(id, Ms(20000));
    CHECK(f.status() == Status::Ok);
    if (f.type() == Type::Ping) CHECK(f.payload == echo);
  }
  // The largest text a SEND can carry, from a plaintext client to this one.
  Client b(t.server);
  const std::string text(65536 - 4, 'm');
  const std::uint32_t req = b.request(Type::Send, view(send_payload(a.id(), text)));
  const OwnedFrame m = a.indication(Type::Message);
  CHECK(as_message(m).text == text);
  check_ok(a.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack);
  check_ok(b.response(req), Type::Send);
  check_ok(a.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: a 60 KB SEND between a TLS client and a plaintext client, both ways") {
  TlsServer t;
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  Client b(t.server);
  std::string text(60 * 1024, 'x');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);

  const std::uint32_t req = a.request(Type::Send, view(send_payload(b.id(), text)));
  const OwnedFrame m = b.indication(Type::Message);
  CHECK(as_message(m).text == text);
  check_ok(b.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack);
  check_ok(a.response(req), Type::Send);

  const std::uint32_t req2 = b.request(Type::Send, view(send_payload(a.id(), text)));
  const OwnedFrame m2 = a.indication(Type::Message);
  CHECK(as_message(m2).text == text);
  check_ok(a.call(Type::Ack, view(u32_payload(m2.id()))), Type::Ack);
  check_ok(b.response(req2), Type::Send);
}

TEST_CASE("TLS: records fed to the server one byte at a time") {
  TlsServer t;
  TlsOptions o;
  o.one_byte = true;
  TlsClient a(t.tls_port, o);
  REQUIRE(a.start(Ms(20000)));
  CHECK((a.hello().flags & kHelloEncrypted) != 0);
  Bytes batch;
  const std::uint32_t t1 = a.add_request(batch, Type::Time);
  const std::uint32_t p1 = a.add_request(batch, Type::Ping, view(text_payload("slowly")));
  a.send_plain(batch);
  check_ok(a.response(t1, Ms(20000)), Type::Time);
  const OwnedFrame pong = a.response(p1, Ms(20000));
  check_ok(pong, Type::Ping);
  CHECK(pong.text() == "slowly");
}

TEST_CASE("TLS: TLS 1.2 works; renegotiation is refused") {
  TlsServer t;
  TlsOptions o;
  o.max_version = TLS1_2_VERSION;
  TlsClient a(t.tls_port, o);
  REQUIRE(a.start());
  CHECK(SSL_version(a.ssl()) == TLS1_2_VERSION);
  check_ok(a.call(Type::Time), Type::Time);
  // Ask to renegotiate: the server must never complete a second handshake.
  REQUIRE(SSL_renegotiate(a.ssl()) == 1);
  const bool renegotiated = a.handshake(Ms(3000)) && SSL_renegotiate_pending(a.ssl()) == 0;
  CHECK_FALSE(renegotiated);
  // Nothing crashed: a new client is served.
  TlsClient c(t.tls_port);
  REQUIRE(c.start());
  check_ok(c.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: ALPN other than sockchat/1 is refused; no ALPN is accepted") {
  TlsServer t;
  TlsOptions other;
  other.alpn = "http/1.1";
  TlsClient a(t.tls_port, other);
  CHECK_FALSE(a.handshake());
  TlsOptions none;
  none.alpn = "";
  TlsClient b(t.tls_port, none);
  REQUIRE(b.start());
  check_ok(b.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: plaintext to the TLS port and TLS to the plaintext port are closed and logged") {
  TlsServer t;
  {
    const int fd = connect_ipv4("127.0.0.1", t.tls_port);
    const Bytes req = raw_frame(static_cast<std::uint8_t>(Kind::Request),
                                static_cast<std::uint8_t>(Type::Time), 1, {});
    CHECK(send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    CHECK(closed_by_server(fd));
    close(fd);
    CHECK(log_shows(t.server, "not speaking TLS"));
  }
  {
    TlsClient a(t.server.port());
    CHECK_FALSE(a.handshake());
    CHECK(log_shows(t.server, "TLS clients must connect to the TLS port"));
  }
  // Both listeners still serve.
  TlsClient c(t.tls_port);
  REQUIRE(c.start());
  Client d(t.server);
  check_ok(c.call(Type::Time), Type::Time);
  check_ok(d.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: a handshake not done within the idle timeout is closed") {
  TlsServer t({"--heartbeat", "1", "--idle-timeout", "2"});
  const int fd = connect_ipv4("127.0.0.1", t.tls_port);
  // Half a ClientHello record header, then nothing.
  const unsigned char part[] = {0x16, 0x03, 0x01};
  CHECK(send(fd, part, sizeof part, MSG_NOSIGNAL) == 3);
  CHECK(closed_by_server(fd, Ms(10000)));
  close(fd);
  CHECK(log_shows(t.server, "TLS handshake not done within 2 s"));
}

TEST_CASE("TLS: SIGHUP reloads the certificate; a failed reload keeps the old one") {
  TlsServer t;
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  const std::string before = sha256_of_peer_cert(a.ssl());
  REQUIRE(!before.empty());

  // A new certificate at the same paths.
  const std::string cert = pki().cert, key = pki().key;
  pki().make("b", "localhost");
  std::filesystem::copy_file(pki().cert, cert, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki().key, key, std::filesystem::copy_options::overwrite_existing);
  pki().cert = cert;
  pki().key = key;
  t.server.signal(SIGHUP);
  REQUIRE(log_shows(t.server, "reloaded the TLS certificate"));
  TlsClient b(t.tls_port);
  REQUIRE(b.start());
  const std::string after = sha256_of_peer_cert(b.ssl());
  CHECK(after != before);
  check_ok(a.call(Type::Time), Type::Time);  // the old connection continues

  // A broken key: the reload fails and the last good certificate stays.
  std::ofstream(key, std::ios::trunc) << "not a key\n";
  t.server.signal(SIGHUP);
  REQUIRE(log_shows(t.server, "TLS reload failed"));
  TlsClient c(t.tls_port);
  REQUIRE(c.start());
  CHECK(sha256_of_peer_cert(c.ssl()) == after);
  pki().make("a", "localhost");  // later tests get a good pair again
}

TEST_CASE("TLS: over --max-clients-per-ip, a client is told TOO_MANY_CONNECTIONS after its handshake") {
  OnePerAddress s("127.0.8.1");
  check_refused_over_tls(s.t.tls_port, "127.0.8.1", Status::TooManyConnections,
                         "1 clients already connected from 127.0.8.1");
  CHECK(log_shows(s.t.server, "turned away 127.0.8.1"));
  check_still_refused(s.t, s.threads, "127.0.8.1", Status::TooManyConnections);
  // The others stay served, and the refused one never was in LIST.
  TlsClient b(s.t.tls_port, from("127.0.8.2"));
  REQUIRE(b.start());
  check_ok(s.a.call(Type::Time), Type::Time);
  const OwnedFrame list = s.a.call(Type::List);
  check_ok(list, Type::List);
  CHECK(as_list(list).size() == 2);
}

TEST_CASE("TLS: over --max-clients, a client is told SERVER_FULL after its handshake") {
  TlsServer t({"--max-clients", "1"});
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  const long threads = ftest::proc_threads(t.server.pid()).value_or(0);
  check_refused_over_tls(t.tls_port, "127.0.8.3", Status::ServerFull, "server full (1 clients)");
  check_still_refused(t, threads, "127.0.8.3", Status::ServerFull);
  check_ok(a.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: a flood of refused connections gets at most 8 refusal handshakes; the rest are closed") {
  OnePerAddress s("127.0.8.5");
  // Forty connections at once, none starting its handshake yet: the first
  // eight hold every refusal slot (each waits up to 5 s for its
  // ClientHello), so the others are closed untold.
  constexpr int kFlood = 40;
  std::vector<std::unique_ptr<TlsClient>> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(std::make_unique<TlsClient>(s.t.tls_port, from("127.0.8.5")));
  }
  int told = 0, closed = 0;
  for (auto& c : flood) {
    if (c->handshake()) {
      const auto f = c->take_if([](const OwnedFrame&) { return true; }, kWait);
      REQUIRE(f.has_value());
      check_error_indication(*f, Status::TooManyConnections);
      CHECK(c->wait_closed());
      ++told;
    } else if (closed_by_server(c->fd())) {
      ++closed;
    }
  }
  MESSAGE(told, " of ", kFlood, " refused connections told over TLS, ", closed, " closed untold");
  CHECK(told >= 1);
  CHECK(told <= 8);
  CHECK(told + closed == kFlood);
  flood.clear();
  // No refusal thread outlives its connection; the others stay served.
  CHECK(ftest::wait_threads_at_most(s.t.server.pid(), s.threads, kWait) <= s.threads);
  check_ok(s.a.call(Type::Time), Type::Time);
  TlsClient b(s.t.tls_port, from("127.0.8.6"));
  REQUIRE(b.start());
  check_ok(b.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: a client turned away that never starts its handshake is closed within 5 s") {
  TlsServer t({"--max-clients", "1"});  // the idle timeout (30 s) is longer
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  const int fd = connect_ipv4("127.0.0.1", t.tls_port, "127.0.8.7");
  CHECK(closed_by_server(fd, Ms(15000)));
  close(fd);
  CHECK(log_shows(t.server, "(127.0.8.7:"));
  CHECK(log_shows(t.server, ", being turned away): TLS handshake not done within 5 s"));
  check_ok(a.call(Type::Time), Type::Time);
}

TEST_CASE("TLS: a server stopping while it turns TLS clients away exits at once") {
  TlsServer t({"--max-clients", "1"});
  TlsClient a(t.tls_port);
  REQUIRE(a.start());
  // Waits for a ClientHello that never comes (up to 5 s)...
  const int silent = connect_ipv4("127.0.0.1", t.tls_port, "127.0.8.8");
  // ...and was accepted before this one, which is told: both are refusals.
  check_refused_over_tls(t.tls_port, "127.0.8.9", Status::ServerFull, "server full (1 clients)");
  t.server.signal(SIGTERM);
  const std::optional<int> st = t.server.wait_exit(Ms(4000));
  REQUIRE(st.has_value());
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
  CHECK(closed_by_server(silent));
  close(silent);
}
