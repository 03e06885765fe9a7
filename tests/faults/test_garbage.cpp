// Faults: other protocols on our port (HTTP, a TLS ClientHello) and SIGTERM
// while SENDs are pending.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/wait.h>

#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "checks.hpp"
#include "fault.hpp"

using namespace sc;
using namespace sc::itest;
using namespace sc::ftest;

namespace {

// The start of a real TLS 1.2 ClientHello record: handshake (0x16), TLS 1.0
// record version, length, ClientHello (0x01), its length, version 3.3 and
// the first bytes of the random.
const Bytes kClientHello = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
                            0x5b, 0x90, 0x9d, 0x9b, 0x72, 0x0b, 0xbc, 0x0c, 0xbc, 0x2b, 0x92,
                            0xa8, 0x48, 0x97, 0xcf, 0xbd, 0x39, 0x04, 0xcc, 0x16, 0x0a, 0x85,
                            0x03, 0x90, 0x9f, 0x77, 0x04, 0x33, 0xd4, 0xde, 0x00, 0x00, 0x20};

void expect_bad_frame_then_close(const Server& s, const Bytes& garbage) {
  Client c(s);
  c.send_raw(view(garbage));
  const std::optional<OwnedFrame> f = c.next_frame(kWait);
  REQUIRE(f.has_value());
  check_error_indication(*f, Status::BadFrame);
  CHECK(c.wait_closed());
}

}  // namespace

TEST_CASE("plain text (an HTTP request) on the port: ERROR BAD_FRAME, then close") {
  Server s;
  Client other(s);
  const std::string http = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  expect_bad_frame_then_close(s, Bytes(http.begin(), http.end()));
  check_alive(other);
  check_serving(s);
}

TEST_CASE("a TLS ClientHello on the port: ERROR BAD_FRAME, then close") {
  Server s;
  Client other(s);
  expect_bad_frame_then_close(s, kClientHello);
  check_alive(other);
  check_serving(s);
}

TEST_CASE("SIGTERM with SENDs pending to targets that never ACK: each answered or closed, exit 0") {
  Server s{"--delivery-timeout", "60", "--max-send-rate", "0"};
  constexpr int kSenders = 4, kTargets = 3, kSendsEach = 12;
  std::vector<std::unique_ptr<Client>> senders, targets;
  for (int i = 0; i < kTargets; ++i) targets.push_back(std::make_unique<Client>(s));
  for (int i = 0; i < kSenders; ++i) senders.push_back(std::make_unique<Client>(s));
  // Every sender SENDs to every target in turn, with TIME and PING between.
  std::vector<std::set<std::uint32_t>> pending(kSenders);
  for (int i = 0; i < kSenders; ++i) {
    Bytes out;
    for (int k = 0; k < kSendsEach; ++k) {
      const std::uint32_t to = targets[static_cast<std::size_t>(k % kTargets)]->id();
      pending[static_cast<std::size_t>(i)].insert(
          senders[static_cast<std::size_t>(i)]->add_request(out, Type::Send, view(send_payload(to, "hold"))));
      senders[static_cast<std::size_t>(i)]->add_request(out, Type::Time);
    }
    senders[static_cast<std::size_t>(i)]->send_raw(view(out));
  }
  // Every target has its MESSAGEs (and ACKs none).
  for (auto& t : targets) {
    for (int k = 0; k < kSenders * kSendsEach / kTargets; ++k) t->indication(Type::Message);
  }
  // The TIMEs are answered, the SENDs are not.
  for (auto& c : senders) {
    for (std::uint32_t id = 2; id <= 2 * kSendsEach; id += 2) check_ok(c->response(id), Type::Time);
    CHECK(c->backlog().empty());
  }

  const auto t0 = Clock::now();
  s.signal(SIGTERM);
  const std::optional<int> st = s.wait_exit(Ms(15000));
  const double took = seconds_since(t0);
  REQUIRE(st.has_value());
  CHECK(WIFEXITED(*st));
  CHECK(WEXITSTATUS(*st) == 0);
  MESSAGE("exited ", took, " s after SIGTERM");
  CHECK(took < 10.0);

  int answered = 0, unanswered = 0;
  for (std::size_t i = 0; i < senders.size(); ++i) {
    Client& c = *senders[i];
    CHECK(c.wait_closed(Ms(5000)));
    std::map<std::uint32_t, int> seen;
    for (const OwnedFrame& f : c.backlog()) {
      if (f.kind() != Kind::Response) continue;
      ++seen[f.id()];
      CHECK(f.type() == Type::Send);
      CHECK(pending[i].count(f.id()) == 1);
      // Nobody ACKed: an OK would be a false "delivered".
      check_error(f, Type::Send, Status::NotDelivered);
    }
    for (std::uint32_t id : pending[i]) {
      CHECK(seen[id] <= 1);
      seen[id] == 1 ? ++answered : ++unanswered;
    }
  }
  MESSAGE(answered, " pending SENDs answered NOT_DELIVERED, ", unanswered,
          " left unanswered by a closed connection");
  for (auto& t : targets) CHECK(t->wait_closed(Ms(5000)));
}
