// Dead peers, as in the lab: a client in its own network namespace behind a
// veth pair whose namespace end is then set down -- no FIN, no RST, its
// packets simply stop.  It must leave LIST within the idle timeout plus a
// second and a SEND to it must end NOT_DELIVERED.
//
// Run by netns.sh, which creates (and always deletes) the namespace and the
// veth pair and passes their names and addresses in the environment.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "checks.hpp"
#include "fault.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

constexpr int kIdle = 3;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name, " is not set: run through netns.sh");
  return v;
}

void run(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("a client whose network vanishes (veth down) leaves LIST in time; a SEND to it is NOT_DELIVERED") {
  const std::string ns = env("NETNS_NAME"), ns_if = env("NETNS_NS_IF"), host_addr = env("NETNS_HOST_ADDR");
  ServerOptions opts;
  opts.args = {"--heartbeat", "1", "--idle-timeout", "3", "--delivery-timeout", "30"};
  opts.bind = host_addr;
  Server s(opts);
  // The observer reaches the host-side address through the host's own
  // stack, which the namespace end going down does not touch.
  Client observer(s);
  Peer remote({"ip", "netns", "exec", ns, fault_peer_path(), "live", host_addr, std::to_string(s.port())});
  const std::uint32_t id = remote.read_id();
  REQUIRE(listed(observer, id));
  // It PINGs and ACKs across the veth pair.
  sleep_pinging(observer, Ms(1000 * kIdle + 500));
  REQUIRE(listed(observer, id));
  check_ok(observer.call(Type::Send, view(send_payload(id, "over the veth"))), Type::Send);

  run("ip -n " + ns + " link set " + ns_if + " down");
  const auto t0 = Clock::now();
  const std::uint32_t req = observer.request(Type::Send, view(send_payload(id, "into the void")));
  expect_vanished(observer, id, req, t0, kIdle, "veth down");
  remote.kill_and_reap();
  check_serving(s);
}
