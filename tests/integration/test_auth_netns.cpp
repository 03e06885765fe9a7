// Integration: a password never travels in clear across a network.  Run by
// netns_lo.sh inside a network namespace of its own, where the server binds
// a non-loopback address (NETNS_ADDR) and clients connect from it: AUTH
// over plaintext is ENCRYPTION_REQUIRED there, while over TLS it succeeds.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "auth_test.hpp"
#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

std::string netns_addr() {
  const char* v = std::getenv("NETNS_ADDR");
  REQUIRE_MESSAGE(v != nullptr, "NETNS_ADDR is not set: run through netns_lo.sh");
  return v;
}

}  // namespace

TEST_CASE("AUTH from a non-loopback address: ENCRYPTION_REQUIRED over plaintext, OK over TLS") {
  const std::string addr = netns_addr();
  AccountsFile file("alice:" + hash_of("correct horse") + "\n");
  TlsServer t({"--accounts", file.path()}, addr);

  Client plain(t.server);
  REQUIRE(t.server.host() == addr);
  REQUIRE(format_ip(local_addr_of(plain.fd())) == addr);  // the server sees this peer
  const OwnedFrame refused = plain.call(Type::Auth, view(auth_payload("alice", "correct horse")));
  check_error(refused, Type::Auth, Status::EncryptionRequired);
  // Refused before any password check: no delay, no failure counted.
  for (int i = 0; i < 3; ++i) {
    check_error(plain.call(Type::Auth, view(auth_payload("alice", "x"))), Type::Auth,
                Status::EncryptionRequired);
  }
  check_error(plain.call(Type::List), Type::List, Status::AuthRequired);
  check_ok(plain.call(Type::Time), Type::Time);

  TlsOptions o;
  o.host = addr;
  TlsClient tls(t.tls_port, o);
  REQUIRE(tls.start());
  CHECK(tls.hello().flags == (kHelloSignInRequired | kHelloEncrypted));
  check_ok(tls.call(Type::Auth, view(auth_payload("alice", "correct horse"))), Type::Auth);
  const std::vector<Entry> list = as_list(tls.call(Type::List));
  REQUIRE(list.size() == 1);
  CHECK(list[0].nick == "alice");
  CHECK(format_ip(list[0].addr) == addr);
}
