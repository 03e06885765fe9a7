// Integration: accounts and sign-in (--accounts, --allow-guests, AUTH), over
// loopback, where a password may travel in clear.  ENCRYPTION_REQUIRED from
// a non-loopback address is test_auth_netns.cpp.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

#include "auth_test.hpp"
#include "checks.hpp"
#include "harness.hpp"

using namespace sc;
using namespace sc::itest;

namespace {

// alice and bob: cheap sha512crypt; carol: yescrypt and erin: bcrypt, at
// libcrypt's default costs (checked on a connection thread's small stack).
struct Accounts {
  AccountsFile file{"# test accounts\nalice:" + hash_of("correct horse") +
                    "\nbob:" + hash_of("hunter2") + "\ncarol:" + hash_of("yes yes", "$y$") +
                    "\nerin:" + hash_of("blowfish", "$2b$") + "\n"};
};

ServerOptions with_accounts(const Accounts& a, std::vector<std::string> extra = {}) {
  ServerOptions o;
  o.args = {"--accounts", a.file.path()};
  o.args.insert(o.args.end(), extra.begin(), extra.end());
  return o;
}

OwnedFrame auth(Client& c, const std::string& account, const std::string& password) {
  return c.call(Type::Auth, view(auth_payload(account, password)));
}

void check_signed_in(const OwnedFrame& f, const std::string& account) {
  check_ok(f, Type::Auth);
  std::string name;
  CHECK(decode_auth_reply(f.view(), name) == Status::Ok);
  CHECK(name == account);
}

bool listed(Client& observer, std::uint32_t id) {
  const std::vector<Entry> list = as_list(observer.call(Type::List));
  return std::any_of(list.begin(), list.end(), [&](const Entry& e) { return e.id == id; });
}

std::string nick_in_list(Client& observer, std::uint32_t id) {
  for (const Entry& e : as_list(observer.call(Type::List))) {
    if (e.id == id) return e.nick;
  }
  return "(not listed)";
}

bool subscribe(Client& c) {
  check_ok(c.call(Type::Subscribe, view(u8_payload(kSubscribePresence))), Type::Subscribe);
  return true;
}

// A signed-in client subscribed to presence events.
void sign_in_and_subscribe(Client& c, const std::string& account, const std::string& password) {
  check_signed_in(auth(c, account, password), account);
  subscribe(c);
}

// A server with guests, an observer subscribed to presence events, and a
// guest whose JOINED the observer has seen.
struct GuestsWatched {
  Accounts a;
  Server s{with_accounts(a, {"--allow-guests"})};
  Client observer{s};
  bool subscribed = subscribe(observer);  // before the guest connects
  Client c{s};
  GuestsWatched() { presence_of(observer, PresenceEvent::Joined, c.id()); }
};

// A server that requires sign-in, and one client of it.
struct SignInRequired {
  Accounts a;
  Server s{with_accounts(a)};
  Client c{s};
};

}  // namespace

TEST_CASE("sign-in: HELLO flags say whether sign-in is required") {
  Accounts a;
  {
    Server s(with_accounts(a));
    Client c(s);
    CHECK((c.hello().flags & kHelloSignInRequired) != 0);
    CHECK((c.hello().flags & kHelloEncrypted) == 0);
  }
  {
    Server s(with_accounts(a, {"--allow-guests"}));
    Client c(s);
    CHECK((c.hello().flags & kHelloSignInRequired) == 0);
  }
  Server s;
  Client c(s);
  CHECK((c.hello().flags & kHelloSignInRequired) == 0);
}

TEST_CASE_FIXTURE(SignInRequired, "sign-in required: only TIME, NAME, PING, AUTH and BYE before AUTH; the rest AUTH_REQUIRED") {
  check_ok(c.call(Type::Time), Type::Time);
  check_ok(c.call(Type::Name), Type::Name);
  check_ok(c.call(Type::Ping, view(text_payload("x"))), Type::Ping);
  check_error(c.call(Type::List), Type::List, Status::AuthRequired);
  check_error(c.call(Type::Send, view(send_payload(c.id(), "hi"))), Type::Send, Status::AuthRequired);
  check_error(c.call(Type::Nick, view(text_payload("zed"))), Type::Nick, Status::AuthRequired);
  check_error(c.call(Type::Ack, view(u32_payload(1))), Type::Ack, Status::AuthRequired);
  check_error(c.call(Type::Subscribe, view(u8_payload(1))), Type::Subscribe, Status::AuthRequired);
  const OwnedFrame unknown = c.response(c.request(std::uint8_t{99}));
  CHECK(unknown.status() == Status::AuthRequired);
  CHECK(unknown.text() == "sign in first");
  // Still open and served.
  check_ok(c.call(Type::Time), Type::Time);
  check_signed_in(auth(c, "alice", "correct horse"), "alice");
  check_ok(c.call(Type::List), Type::List);
  check_ok(c.call(Type::Bye), Type::Bye);
  CHECK(c.wait_closed());
}

TEST_CASE("sign-in required: a client joins LIST and presence only on AUTH, named after its account") {
  Accounts a;
  Server s(with_accounts(a));
  Client observer(s);
  sign_in_and_subscribe(observer, "bob", "hunter2");
  Client c(s);
  // Not in LIST, no JOINED, and nobody can send to it yet.
  CHECK(!listed(observer, c.id()));
  check_error(observer.call(Type::Send, view(send_payload(c.id(), "hello?"))), Type::Send,
              Status::NoSuchClient);
  check_ok(c.call(Type::Ping), Type::Ping);
  CHECK(!observer.try_indication(Type::Presence, kQuiet));

  check_signed_in(auth(c, "alice", "correct horse"), "alice");
  const Presence joined = presence_of(observer, PresenceEvent::Joined, c.id());
  CHECK(joined.entry.nick == "alice");
  CHECK(nick_in_list(observer, c.id()) == "alice");
  // Now it can be sent to.
  const std::uint32_t req = observer.request(Type::Send, view(send_payload(c.id(), "hi alice")));
  const OwnedFrame mf = c.indication(Type::Message);
  const Message m = as_message(mf);
  CHECK(m.text == "hi alice");
  CHECK(m.nick == "bob");
  check_ok(c.call(Type::Ack, view(u32_payload(mf.id()))), Type::Ack);
  check_ok(observer.response(req), Type::Send);
}

TEST_CASE_FIXTURE(SignInRequired, "sign-in: a signed-in client cannot rename itself or sign in again") {
  check_signed_in(auth(c, "carol", "yes yes"), "carol");  // yescrypt
  Client c2(s);
  check_signed_in(auth(c2, "erin", "blowfish"), "erin");  // bcrypt
  const OwnedFrame nick = c.call(Type::Nick, view(text_payload("caroline")));
  check_error(nick, Type::Nick, Status::BadRequest);
  CHECK(nick.text().find("signed in as 'carol'") != std::string::npos);
  const OwnedFrame again = auth(c, "alice", "correct horse");
  check_error(again, Type::Auth, Status::BadRequest);
  CHECK(again.text().find("already signed in as 'carol'") != std::string::npos);
}

TEST_CASE_FIXTURE(SignInRequired, "sign-in: wrong password and unknown account both get AUTH_FAILED after the delay") {
  for (const auto& [account, password] : {std::pair<std::string, std::string>{"alice", "not-the-password-17"},
                                          {"mallory", "correct horse"}}) {
    const std::string who = account;
    INFO(who);
    const auto t0 = Clock::now();
    const OwnedFrame f = auth(c, account, password);
    const double took = seconds_since(t0);
    check_error(f, Type::Auth, Status::AuthFailed);
    CHECK(f.text() == "wrong account name or password");
    // The fixed delay is 1 s: never much sooner, and no hang.
    CHECK(took >= 0.9);
    CHECK(took < 4.5);
  }
  // Two failures leave the connection usable.
  check_ok(c.call(Type::Time), Type::Time);
  check_signed_in(auth(c, "alice", "correct horse"), "alice");
  // Logged with the address and the name, never the password.
  CHECK(log_shows(s, "failed sign-in as 'mallory' (2 of 3)"));
  CHECK(s.log().find("127.0.0.1") != std::string::npos);
  CHECK(s.log().find("correct horse") == std::string::npos);
  CHECK(s.log().find("not-the-password-17") == std::string::npos);
}

TEST_CASE("sign-in: the delay holds that connection only; its pipelined requests wait their turn") {
  Accounts a;
  Server s(with_accounts(a));
  Client slow(s);
  Client other(s);
  Bytes batch;
  const std::uint32_t auth_id = slow.add_request(batch, Type::Auth, view(auth_payload("bob", "nope")));
  const std::uint32_t ping_id = slow.add_request(batch, Type::Ping, view(text_payload("after")));
  slow.send_raw(view(batch));
  // Another client is answered while the first waits out its delay.
  check_ok(other.call(Type::Time), Type::Time);
  check_ok(other.call(Type::Name), Type::Name);
  CHECK(!slow.try_response(auth_id, Ms(0)));
  // Then the AUTH answer, and only after it the PING.
  const std::optional<OwnedFrame> first = slow.next_frame(kWait);
  REQUIRE(first);
  CHECK(first->id() == auth_id);
  CHECK(first->status() == Status::AuthFailed);
  const OwnedFrame ping = slow.response(ping_id);
  check_ok(ping, Type::Ping);
  CHECK(ping.text() == "after");
}

TEST_CASE_FIXTURE(GuestsWatched, "sign-in: the third failure is an ERROR AUTH_FAILED, then close") {
  check_error(auth(c, "alice", "one"), Type::Auth, Status::AuthFailed);
  check_error(auth(c, "alice", "two"), Type::Auth, Status::AuthFailed);
  c.request(Type::Auth, view(auth_payload("alice", "three")));
  const OwnedFrame e = c.indication(Type::Error);
  check_error_indication(e, Status::AuthFailed);
  CHECK(c.wait_closed());
  const Presence left = presence_of(observer, PresenceEvent::Left, c.id());
  CHECK(left.reason == LeaveReason::ProtocolError);
  CHECK(log_shows(s, "failed sign-in as 'alice' (3 of 3)"));
  // A new connection may try again.
  Client again(s);
  check_signed_in(auth(again, "alice", "correct horse"), "alice");
}

TEST_CASE_FIXTURE(GuestsWatched, "guests: in LIST at once; may not take an account's name or a look-alike; may sign in") {
  Client& guest = c;
  CHECK(listed(observer, guest.id()));
  check_ok(guest.call(Type::List), Type::List);
  for (const char* name : {"alice", "ALICE", "a1ice"}) {
    INFO(name);
    const OwnedFrame f = guest.call(Type::Nick, view(text_payload(name)));
    check_error(f, Type::Nick, Status::NickInUse);
  }
  check_ok(guest.call(Type::Nick, view(text_payload("visitor"))), Type::Nick);
  presence_of(observer, PresenceEvent::Renamed, guest.id());
  // Signing in renames the guest to its account.
  check_signed_in(auth(guest, "alice", "correct horse"), "alice");
  const Presence renamed = presence_of(observer, PresenceEvent::Renamed, guest.id());
  CHECK(renamed.entry.nick == "alice");
  // Its old guest nick is free again.
  check_ok(observer.call(Type::Nick, view(text_payload("visitor"))), Type::Nick);
}

TEST_CASE("one account on two connections: both signed in, both named after it") {
  Accounts a;
  Server s(with_accounts(a, {"--allow-guests"}));
  Client phone(s);
  Client laptop(s);
  Client guest(s);
  check_signed_in(auth(phone, "bob", "hunter2"), "bob");
  check_signed_in(auth(laptop, "bob", "hunter2"), "bob");
  CHECK(nick_in_list(guest, phone.id()) == "bob");
  CHECK(nick_in_list(guest, laptop.id()) == "bob");
  check_error(guest.call(Type::Nick, view(text_payload("bob"))), Type::Nick, Status::NickInUse);
}

TEST_CASE("sign-in without accounts: AUTH_FAILED at once, saying so") {
  Server s;
  Client c(s);
  const auto t0 = Clock::now();
  const OwnedFrame f = auth(c, "alice", "correct horse");
  check_error(f, Type::Auth, Status::AuthFailed);
  CHECK(f.text() == "this server has no accounts");
  CHECK(seconds_since(t0) < 0.9);  // no delay: there is nothing to guess
  // Not a failure that counts: the connection stays after many.
  for (int i = 0; i < 3; ++i) check_error(auth(c, "alice", "x"), Type::Auth, Status::AuthFailed);
  check_ok(c.call(Type::Time), Type::Time);
}

TEST_CASE_FIXTURE(SignInRequired, "sign-in: malformed AUTH payloads are BAD_REQUEST and cost no attempt") {
  check_error(c.call(Type::Auth), Type::Auth, Status::BadRequest);
  Bytes no_password;
  put_str8(no_password, "alice");
  check_error(c.call(Type::Auth, view(no_password)), Type::Auth, Status::BadRequest);
  Bytes bad_name;
  put_str8(bad_name, "al ice");
  put_text(bad_name, "pw");
  check_error(c.call(Type::Auth, view(bad_name)), Type::Auth, Status::BadRequest);
  check_signed_in(auth(c, "alice", "correct horse"), "alice");
}

TEST_CASE("sign-in over TLS on loopback: HELLO says SIGN_IN_REQUIRED and ENCRYPTED") {
  Accounts a;
  TlsServer t({"--accounts", a.file.path()});
  TlsClient c(t.tls_port);
  REQUIRE(c.start());
  CHECK(c.hello().flags == (kHelloSignInRequired | kHelloEncrypted));
  check_error(c.call(Type::List), Type::List, Status::AuthRequired);
  check_signed_in(c.call(Type::Auth, view(auth_payload("bob", "hunter2"))), "bob");
  check_ok(c.call(Type::List), Type::List);
}

TEST_CASE("SIGHUP reloads the accounts; a bad file keeps the old ones") {
  Accounts a;
  Server s(with_accounts(a, {"--allow-guests"}));
  Client guest(s);
  check_ok(guest.call(Type::Nick, view(text_payload("dave"))), Type::Nick);

  a.file.write("alice:" + hash_of("new password") + "\ndave:" + hash_of("dave's") + "\n");
  s.signal(SIGHUP);
  REQUIRE(log_shows(s, "reloaded 2 account(s)"));
  Client c1(s);
  check_error(auth(c1, "bob", "hunter2"), Type::Auth, Status::AuthFailed);  // gone
  check_signed_in(auth(c1, "alice", "new password"), "alice");
  // The guest who held "dave" before it became an account keeps it, and
  // dave's sign-in is refused while it does.
  Client c2(s);
  const OwnedFrame held = auth(c2, "dave", "dave's");
  check_error(held, Type::Auth, Status::NickInUse);
  CHECK(nick_in_list(c2, guest.id()) == "dave");
  check_ok(guest.call(Type::Nick, view(text_payload("david"))), Type::Nick);
  check_signed_in(auth(c2, "dave", "dave's"), "dave");

  a.file.write("alice:$1$weak$hash\n");
  s.signal(SIGHUP);
  REQUIRE(log_shows(s, "accounts reload failed, keeping the old accounts: " + a.file.path() + ":1:"));
  Client c3(s);
  check_signed_in(auth(c3, "alice", "new password"), "alice");
}

TEST_CASE("AUTH costs 100 units of the request budget") {
  Accounts a;
  // Budget 100/s, burst 200: two AUTHs at once, and the third is refused.
  Server s(with_accounts(a, {"--max-request-rate", "100"}));
  Client c(s);
  Bytes batch;
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(c.add_request(batch, Type::Auth, {}));
  c.send_raw(view(batch));
  check_error(c.response(ids[0]), Type::Auth, Status::BadRequest);
  check_error(c.response(ids[1]), Type::Auth, Status::BadRequest);
  const OwnedFrame third = c.response(ids[2]);
  check_error(third, Type::Auth, Status::RateLimited);
  CHECK(third.text().find("AUTH costs 100") != std::string::npos);
}

TEST_CASE_FIXTURE(SignInRequired, "sign-in: a server shutdown does not wait for a sign-in delay") {
  const auto sent = Clock::now();
  const std::uint32_t id = c.request(Type::Auth, view(auth_payload("alice", "nope")));
  REQUIRE(log_shows(s, "failed sign-in as 'alice' (1 of 3)"));
  s.signal(SIGTERM);
  const bool within_delay = seconds_since(sent) < 0.5;
  const OwnedFrame bye = c.indication(Type::Shutdown);
  CHECK(bye.text() == "server is shutting down");
  CHECK(c.wait_closed());
  // Signalled well within the delay: the goodbye came first and the AUTH
  // was never answered.  (A machine so slow that half the delay passed
  // before the signal proves nothing either way.)
  if (within_delay) CHECK(!c.try_response(id, Ms(0)));
  const std::optional<int> status = s.wait_exit(kWait);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}
