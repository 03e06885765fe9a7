// Integration: a server on ::1, its IPv6 clients in LIST and in MESSAGE.
// Alone in its binary because it skips (exit 77, see tests/lib/skip.hpp)
// where the machine has no IPv6 loopback.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "../lib/skip.hpp"
#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

// Empty when a TCP socket can bind ::1, else why not.
std::string ipv6_loopback_missing() {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket(AF_INET6): ") + std::strerror(errno);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  std::string why;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) why = std::string("bind [::1]: ") + std::strerror(errno);
  close(fd);
  return why;
}

}  // namespace

TEST_CASE("IPv6 on ::1") {
  if (const std::string why = ipv6_loopback_missing(); !why.empty()) {
    sc::testing::skip("no IPv6 loopback on this machine (" + why + ")");
    return;
  }
  Server s(ServerOptions{{}, "::1", {}});
  Client a(s), b(s);
  const std::vector<Entry> list = as_list(a.call(Type::List));
  REQUIRE(list.size() == 2);
  CHECK(list[0].addr.family == 6);
  CHECK(list[0].addr == local_addr_of(a.fd()));
  CHECK(list[0].addr.bytes[15] == 1);
  // A message across IPv6 carries the sender's IPv6 address.
  const std::uint32_t id = a.request(Type::Send, view(send_payload(b.id(), "over v6")));
  const OwnedFrame m = b.indication(Type::Message);
  CHECK(as_message(m).addr == local_addr_of(a.fd()));
  check_ok(b.call(Type::Ack, view(u32_payload(m.id()))), Type::Ack);
  check_ok(a.response(id), Type::Send);
}
