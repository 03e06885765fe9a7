// Sign-in, the trust question and the security line, against the fake
// transport: the AUTH the client writes is decoded and checked, the
// server's answers are played back.
#include <doctest/doctest.h>

#include "fake_transport.hpp"
#include "tui-client/app.hpp"

using namespace sc;
using namespace sc::tui;
using namespace sc::tui::test;

namespace {

struct Rig : SessionRig {
  int passwords_read = 0;

  // A password source that hands out `password`, as --password-file does.
  void sign_in_with(const std::string& account, const std::string& password) {
    session.set_account(account, [this, password](const std::string&, std::string& out, std::string&) {
      ++passwords_read;
      out = password;
      return true;
    });
  }
  std::vector<FakeWire::Request> connect(std::uint8_t flags) {
    session.connect("127.0.0.1", "2556", true);
    wire->events.push_back(event(Incoming::What::Connected));
    wire->events.push_back(hello(4, 10, 30, flags));
    session.on_ready();
    return wire->requests();
  }
};

Bytes auth_reply(const std::string& account) {
  Bytes p;
  put_auth_reply(p, account);
  return p;
}

void type_text(App& app, const std::u32string& text) {
  for (char32_t ch : text) {
    Key k;
    k.code = Key::Code::Char;
    k.ch = ch;
    app.on_key(k);
  }
}

void press(App& app, Key::Code code) {
  Key k;
  k.code = code;
  app.on_key(k);
}

AuthRequest auth_of(const FakeWire::Request& r) {
  AuthRequest a;
  REQUIRE(decode_auth(ByteView(r.payload.data(), r.payload.size()), a) == Status::Ok);
  return a;
}

}  // namespace

TEST_CASE("sign-in: SIGN_IN_REQUIRED with --user sends AUTH first, and SUBSCRIBE and LIST only after OK") {
  Rig r;
  r.session.set_wanted_nick("ignored");  // an account's name is its nick
  r.sign_in_with("alice", "s3cret");
  auto reqs = r.connect(kHelloSignInRequired);
  CHECK(r.wire->last_tls);
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Auth);
  CHECK(auth_of(reqs[0]) == AuthRequest{"alice", "s3cret"});
  CHECK(r.passwords_read == 1);
  CHECK(r.session.queued_bytes() == 0);
  r.deliver(response(reqs[0], Status::Ok, auth_reply("alice")));
  CHECK(r.state.account == "alice");
  CHECK(r.state.nick == "alice");
  CHECK(has_line(r.log, "signed in as alice"));
  reqs = r.wire->requests();
  REQUIRE(reqs.size() == 2);
  CHECK(type_of(reqs[0]) == Type::Subscribe);
  CHECK(type_of(reqs[1]) == Type::List);
  CHECK(security_status(r.state).ends_with(", signed in as alice"));
}

TEST_CASE("sign-in: without SIGN_IN_REQUIRED, --user still signs in, and the list comes at once") {
  Rig r;
  r.sign_in_with("bob", "pw");
  const auto reqs = r.connect(0);
  REQUIRE(reqs.size() == 3);
  CHECK(type_of(reqs[0]) == Type::Auth);
  CHECK(type_of(reqs[1]) == Type::Subscribe);
  CHECK(type_of(reqs[2]) == Type::List);
  r.deliver(response(reqs[0], Status::Ok, auth_reply("bob")));
  CHECK(r.wire->requests().empty());  // no second SUBSCRIBE
}

TEST_CASE("sign-in: SIGN_IN_REQUIRED without --user tells how, and sends nothing the server would refuse") {
  Rig r;
  const auto reqs = r.connect(kHelloSignInRequired);
  CHECK(reqs.empty());
  CHECK(has_line(r.log, "this server requires sign-in: /auth NAME"));
}

TEST_CASE("sign-in: failures are said in plain words") {
  struct Case {
    Status status;
    const char* says;
  };
  const Case cases[] = {
      {Status::AuthFailed, "wrong account name or password"},
      {Status::EncryptionRequired, "the server takes passwords only over TLS"},
      {Status::UnknownType, "this server has no accounts"},
      {Status::AuthRequired, "sign-in required"},
  };
  for (const Case& c : cases) {
    Rig r;
    r.sign_in_with("carol", "pw");
    const auto reqs = r.connect(0);
    REQUIRE(!reqs.empty());
    r.deliver(response(reqs[0], c.status, text_payload("detail")));
    CHECK(r.state.account.empty());
    const std::string want = std::string("sign-in as carol failed: ") + c.says;
    INFO(want);
    CHECK(has_line(r.log, want));
  }
}

TEST_CASE("sign-in: a LIST refused with AUTH_REQUIRED points at /auth") {
  Rig r;
  r.connect(kHelloSignInRequired);
  r.session.ask_list();
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  r.deliver(response(reqs[0], Status::AuthRequired, text_payload("sign in first")));
  CHECK(has_line(r.log, "LIST failed: sign-in required (/auth NAME) (sign in first)"));
}

TEST_CASE("sign-in: without a password source the UI is asked; bad names and passwords are refused") {
  Rig r;
  r.connect(0);
  r.wire->requests();
  r.session.begin_sign_in("bad name");
  CHECK(r.state.password_for.empty());
  CHECK(has_line(r.log, "cannot be an account name"));
  r.session.begin_sign_in("dave");
  CHECK(r.state.password_for == "dave");
  CHECK(r.wire->requests().empty());
  std::string empty;
  r.session.sign_in("dave", empty);
  CHECK(has_line(r.log, "a password is 1 to 255 bytes"));
  CHECK(r.wire->requests().empty());
  r.session.begin_sign_in("dave");
  std::string pw = "hunter2";
  r.session.sign_in("dave", pw);
  CHECK(pw == std::string(7, '\0'));  // wiped once sent
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(auth_of(reqs[0]) == AuthRequest{"dave", "hunter2"});
  CHECK(r.state.password_for.empty());
}

TEST_CASE("sign-in: a password that waits for POLLOUT goes out whole later") {
  Rig r;
  r.connect(0);
  r.wire->requests();
  r.wire->accept = 5;  // the kernel takes 5 bytes, then is full
  std::string pw = "correct horse";
  r.session.begin_sign_in("erin");
  r.session.sign_in("erin", pw);
  CHECK(r.session.queued_bytes() > 0);
  r.wire->accept = SIZE_MAX;
  r.session.on_writable();
  CHECK(r.session.queued_bytes() == 0);
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(auth_of(reqs[0]) == AuthRequest{"erin", "correct horse"});
}

TEST_CASE("security: the status words") {
  Security s;
  s.loopback = true;
  CHECK(security_text(s) == "plaintext (loopback)");
  s.loopback = false;
  CHECK(security_text(s) == "PLAINTEXT to non-loopback host");
  s.tls = true;
  s.protocol = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  s.trust = Security::Trust::Ca;
  CHECK(security_text(s) == "TLSv1.3 TLS_AES_256_GCM_SHA384, verified (CA)");
  s.trust = Security::Trust::PinnedKey;
  CHECK(security_text(s) == "TLSv1.3 TLS_AES_256_GCM_SHA384, verified (pinned key)");
  s.trust = Security::Trust::KnownKey;
  CHECK(security_text(s) == "TLSv1.3 TLS_AES_256_GCM_SHA384, verified (known key)");
  s.trust = Security::Trust::NewKey;
  CHECK(security_text(s) == "TLSv1.3 TLS_AES_256_GCM_SHA384, key trusted now (first use)");
}

TEST_CASE("security: a connected session shows what the transport reported") {
  Rig r;
  r.session.connect("example.org", "2555", false);
  Incoming c = event(Incoming::What::Connected);
  c.security.loopback = false;
  r.deliver(std::move(c));
  r.deliver(hello(2));
  CHECK(security_status(r.state) == "PLAINTEXT to non-loopback host");
  CHECK(has_line(r.log, "security PLAINTEXT to non-loopback host"));
}

TEST_CASE("trust question: the App asks in the input line; yes and no reach the transport") {
  for (const bool yes : {true, false}) {
    auto wire = std::make_shared<FakeWire>();
    App app(Options{}, fake_connector(wire));
    app.on_resize(40, 160);
    app.connect("selfsigned.example", "2556");
    wire->events.push_back(event(Incoming::What::Question, "trust SHA256:abc? (yes/no)"));
    app.on_connection_ready();
    CHECK(app.state().asking());
    CHECK(input_label(app.state()) == "Trust this key? (yes/no): ");
    app.on_line("/time");  // commands typed meanwhile are not answers
    CHECK(wire->answers.empty());
    type_text(app, U"maybe");
    press(app, Key::Code::Enter);
    CHECK(wire->answers.empty());
    CHECK(app.state().notice == "answer yes or no (Esc: no)");
    type_text(app, yes ? U"yes" : U"no");
    press(app, Key::Code::Enter);
    REQUIRE(wire->answers.size() == 1);
    CHECK(wire->answers[0] == yes);
    CHECK_FALSE(app.state().asking());
  }
}

TEST_CASE("password prompt: hidden input, Enter signs in, Esc cancels, nothing enters the history") {
  auto wire = std::make_shared<FakeWire>();
  App app(Options{}, fake_connector(wire));
  app.on_resize(40, 160);
  app.connect("127.0.0.1", "2555");
  wire->events.push_back(event(Incoming::What::Connected));
  wire->events.push_back(hello(3));
  app.on_connection_ready();
  wire->requests();
  app.on_line("/auth frank");
  CHECK(input_label(app.state()) == "Password for frank (hidden): ");
  type_text(app, U"x");
  press(app, Key::Code::Escape);
  CHECK_FALSE(app.state().asking());
  CHECK(app.state().ask_input.empty());
  CHECK(wire->requests().empty());
  app.on_line("/auth frank");
  type_text(app, U"pässwörd");
  press(app, Key::Code::Enter);
  const auto reqs = wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(auth_of(reqs[0]) == AuthRequest{"frank", "pässwörd"});
  CHECK(app.state().ask_input.history_size() == 0);
  CHECK(app.state().input.history_size() == 0);
}

TEST_CASE("commands: /connect --tls and /auth") {
  ParseResult p = parse_command("/connect --tls example.org");
  REQUIRE(p.ok);
  CHECK(p.command.tls == Command::Tls::On);
  CHECK(p.command.host == "example.org");
  CHECK_FALSE(p.command.port_given);
  p = parse_command("/connect --no-tls example.org 9");
  REQUIRE(p.ok);
  CHECK(p.command.tls == Command::Tls::Off);
  CHECK(p.command.port == "9");
  p = parse_command("/connect tls");  // a host named tls
  REQUIRE(p.ok);
  CHECK(p.command.host == "tls");
  CHECK(p.command.tls == Command::Tls::Default);
  p = parse_command("/auth alice");
  REQUIRE(p.ok);
  CHECK(p.command.kind == CommandKind::Auth);
  CHECK(p.command.text == "alice");
  CHECK_FALSE(parse_command("/auth alice secret").ok);  // never a password on a command
  CHECK_FALSE(parse_command("/auth").ok);
}

TEST_CASE("app: /connect --tls without a port goes to 2556 with TLS; the default follows --tls") {
  auto wire = std::make_shared<FakeWire>();
  App app(Options{}, fake_connector(wire));
  app.on_line("/connect --tls example.org");
  CHECK(wire->last_tls);
  CHECK(wire->last_port == "2556");
  app.request_quit();
  Options o;
  o.tls = true;
  App tls_app(o, fake_connector(wire));
  tls_app.on_line("/connect --no-tls example.org");
  CHECK_FALSE(wire->last_tls);
  CHECK(wire->last_port == "2555");
  tls_app.request_quit();
  App tls_app2(o, fake_connector(wire));
  tls_app2.on_line("/connect");
  CHECK(wire->last_tls);
  CHECK(wire->last_port == "2556");
}

TEST_CASE("clients pane marks: every entry is an account where the server requires sign-in") {
  State s;
  s.session.hello.client_id = 4;
  CHECK(client_mark(s, 4) == " (you)");
  CHECK(client_mark(s, 5).empty());
  s.session.account = "alice";  // our own AUTH succeeded on a server with guests
  CHECK(client_mark(s, 4) == " (you, account)");
  CHECK(client_mark(s, 5).empty());  // a guest or an account: LIST does not say
  s.session.hello.flags = kHelloSignInRequired;  // guests are never listed there
  CHECK(client_mark(s, 5) == " (account)");
  s.session.account.clear();
  CHECK(client_mark(s, 4) == " (you, account)");
}
