// Dead peers: a client that stops answering without FIN or RST must leave
// LIST within the idle timeout plus a second, and a SEND to it must end
// NOT_DELIVERED, never OK.  Here the client is a real process that is
// SIGSTOPped (its kernel still ACKs TCP, the program says nothing).  The
// keepalive options that catch a vanished host: test_keepalive.cpp.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>

#include "checks.hpp"
#include "fault.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

constexpr int kIdle = 3;

}  // namespace

TEST_CASE("a frozen client (SIGSTOP) leaves LIST within the idle timeout + 1 s; a SEND to it is NOT_DELIVERED") {
  Server s{"--heartbeat", "1", "--idle-timeout", "3", "--delivery-timeout", "30"};
  Client observer(s);
  Peer frozen(peer_argv("live", s));
  const std::uint32_t id = frozen.read_id();
  CHECK(listed(observer, id));
  // Alive while it runs: it PINGs every second, past the idle timeout.
  sleep_pinging(observer, Ms(1000 * kIdle + 500));
  REQUIRE(listed(observer, id));
  // While it runs it ACKs, so the SEND is OK.
  {
    const OwnedFrame r = observer.call(Type::Send, view(send_payload(id, "still there?")));
    check_ok(r, Type::Send);
  }

  frozen.signal(SIGSTOP);
  const auto t0 = Clock::now();
  const std::uint32_t req = observer.request(Type::Send, view(send_payload(id, "are you there?")));
  expect_vanished(observer, id, req, t0, kIdle, "SIGSTOP");
  frozen.signal(SIGCONT);
  frozen.kill_and_reap();
  check_serving(s);
}
