// App routing keys and commands, against the fake transport: what a user
// types stays in the input line, and quitting with messages on their way
// asks once.
#include <doctest/doctest.h>

#include "fake_transport.hpp"
#include "tui-client/app.hpp"

using namespace sc;
using namespace sc::tui;
using namespace sc::tui::test;

namespace {

Key ch(char32_t c, bool alt = false) {
  Key k;
  k.code = Key::Code::Char;
  k.ch = c;
  k.alt = alt;
  return k;
}

Key code(Key::Code c, int function = 0) {
  Key k;
  k.code = c;
  k.function = function;
  return k;
}

Options default_options() {
  Options o;
  o.nick = "me";
  return o;
}

struct Rig {
  std::shared_ptr<FakeWire> wire = std::make_shared<FakeWire>();
  App app;

  explicit Rig(Options options = default_options()) : app(std::move(options), fake_connector(wire)) {
    app.on_resize(40, 160);
  }

  // Connected as client 1 with alice (2) and bob (3) in the list.
  void connect() {
    app.connect("127.0.0.1", "2555");
    wire->events.push_back(event(Incoming::What::Connected));
    wire->events.push_back(hello(1));
    app.on_connection_ready();
    auto reqs = wire->requests();
    for (const auto& r : reqs) {
      if (static_cast<Type>(r.header.type) == Type::List) {
        wire->events.push_back(response(r, Status::Ok, list_payload({entry(1, "me"), entry(2, "alice"), entry(3, "bob")})));
      } else {
        wire->events.push_back(response(r));
      }
    }
    app.on_connection_ready();
  }
  void type(const std::string& s) {
    for (char c : s) app.on_key(ch(static_cast<char32_t>(c)));
  }
};

}  // namespace

TEST_CASE("app: the issue's sequence: 'hello al', Tab, 'ice, quick question' stays a draft") {
  Rig r;
  r.connect();
  r.type("hello al");
  r.app.on_key(code(Key::Code::Tab));
  CHECK(r.app.state().focus == Focus::Input);
  CHECK(r.app.state().input.text() == "hello alice");
  r.type("ice, quick question");
  CHECK(r.app.state().input.text() == "hello alice, quick question");
  CHECK_FALSE(r.app.quit_done());
  CHECK(r.app.state().connected());
  CHECK(r.wire->requests().empty());  // no menu action fired, nothing sent
}

TEST_CASE("app: Tab completes /commands; printable keys never reach the menu from the input line") {
  Rig r;
  r.type("/qui");  // "/qu" is also /query
  r.app.on_key(code(Key::Code::Tab));
  CHECK(r.app.state().input.text() == "/quit");
  r.app.on_key(code(Key::Code::Tab));
  r.type("q");
  CHECK(r.app.state().focus == Focus::Input);
  CHECK(r.app.state().input.text() == "/quitq");
  CHECK_FALSE(r.app.quit_done());
}

TEST_CASE("app: the menu is visited with F9 or Alt-M; Alt+letter runs an item anywhere") {
  Rig r;
  r.app.on_key(code(Key::Code::Function, 9));
  CHECK(r.app.state().focus == Focus::Menu);
  r.app.on_key(code(Key::Code::Escape));
  CHECK(r.app.state().focus == Focus::Input);
  r.app.on_key(ch(U'm', true));
  CHECK(r.app.state().focus == Focus::Menu);
  r.app.on_key(ch(U'm', true));
  CHECK(r.app.state().focus == Focus::Input);
  r.app.on_key(ch(U'w', true));
  CHECK(r.app.state().focus == Focus::Clients);
  r.app.on_key(code(Key::Code::Function, 8));
  CHECK(r.app.state().focus == Focus::Input);
  r.app.on_key(ch(U'h', true));  // Alt-H: help
  CHECK(has_line(r.app.state().log, "commands:"));
  CHECK(r.app.state().input.empty());
}

TEST_CASE("app: quitting with undelivered messages asks once; Esc stays") {
  Rig r;
  r.connect();
  r.app.on_line("/send 2 are you there?");
  REQUIRE(r.wire->requests().size() == 1);
  r.app.on_key(code(Key::Code::Function, 10));
  CHECK_FALSE(r.app.state().session.phase == Phase::Closing);
  CHECK(r.app.state().notice.find("1 message has no answer yet") != std::string::npos);
  r.app.on_key(code(Key::Code::Escape));
  CHECK_FALSE(r.app.state().quit_asked);
  r.app.on_line("/quit");
  CHECK(r.app.state().session.phase == Phase::Connected);  // asked again
  r.app.on_line("/exit");
  CHECK(r.app.state().session.phase == Phase::Closing);  // confirmed: BYE sent
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(static_cast<Type>(reqs[0].header.type) == Type::Bye);
}

TEST_CASE("app: quitting with nothing pending does not ask") {
  Rig r;
  r.connect();
  r.app.on_key(code(Key::Code::Function, 10));
  CHECK(r.app.state().session.phase == Phase::Closing);
}

TEST_CASE("find_client: exact nick, then the only one alike in case; unknown and ambiguous say why") {
  std::map<std::uint32_t, Entry> clients = {{3, entry(3, "Bob")}, {5, entry(5, "bob")}, {7, entry(7, "Carol")},
                                            {8, entry(8, "")}};
  std::uint32_t id = 0;
  std::string why;
  CHECK(find_client(clients, "bob", id, why));
  CHECK(id == 5);
  CHECK(find_client(clients, "carol", id, why));
  CHECK(id == 7);
  CHECK_FALSE(find_client(clients, "BOB", id, why));
  CHECK(why == "BOB could be Bob (3) or bob (5); name the one you mean by its id");
  CHECK_FALSE(find_client(clients, "dave", id, why));
  CHECK(why == "no client is called dave; /list shows who is connected");
}

TEST_CASE("app: /msg NICK resolves through the client list; /whois shows the entry") {
  Rig r;
  r.connect();
  r.app.on_line("/msg bob hi bob");
  auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  const SendRequest sr = send_request_of(reqs[0]);
  CHECK(sr.target == 3);
  CHECK(sr.text == "hi bob");
  r.app.on_line("/msg zed hello");
  CHECK(r.wire->requests().empty());
  CHECK(r.app.state().log.back().text == "error: no client is called zed; /list shows who is connected");
  r.app.on_line("/whois alice");
  const std::string& w = r.app.state().log.back().text;
  CHECK(w.starts_with("whois alice: client 2 at "));
  CHECK(w.find(", connected since 20") != std::string::npos);
  r.app.on_line("/whois 1");
  CHECK(r.app.state().log.back().text.ends_with(" (you)"));
}

TEST_CASE("app: Tab completes the nick after /msg") {
  Rig r;
  r.connect();
  r.type("/msg b");
  r.app.on_key(code(Key::Code::Tab));
  CHECK(r.app.state().input.text() == "/msg bob");
}

TEST_CASE("app: one table gives each menu item its label, function key and a letter of its own") {
  std::string letters;
  for (int i = 0; i < kMenuItems; ++i) {
    const auto item = static_cast<MenuItem>(i);
    CHECK(std::string(menu_item_hotkey(item)).starts_with("F"));
    CHECK(letters.find(menu_item_letter(item)) == std::string::npos);
    letters += menu_item_letter(item);
  }
  Rig r;
  r.app.on_key(code(Key::Code::Function, 4));  // Get time, while disconnected
  CHECK(r.app.state().log.back().text == "error: Get time needs a connection: connect first (F2 or /connect)");
  r.app.on_key(ch(U'T', true));  // Alt-T, any case
  CHECK(r.app.state().log.back().text == "error: Get time needs a connection: connect first (F2 or /connect)");
  CHECK(r.app.state().log.size() == 3);
}

TEST_CASE("app: a pasted line too long for one message stays in the input line, nothing sent") {
  Rig r;
  r.connect();
  r.type("/send 2 ");
  r.app.on_key(code(Key::Code::PasteBegin));
  // The line is one byte more than a SEND's text may hold (max payload
  // 65536 less the u32 target); the refusal looks at the whole line.
  const std::string big = "/send 2 " + std::string(65536 - 4 + 1 - 8, 'x');
  r.type(big.substr(8));
  r.app.on_key(code(Key::Code::PasteEnd));
  r.app.on_key(code(Key::Code::Enter));
  CHECK(r.wire->requests().empty());
  CHECK(r.app.state().input.text() == big);
  CHECK(r.app.state().notice.find("65533 bytes and a message holds at most 65532") != std::string::npos);
  r.app.on_key(code(Key::Code::Backspace));  // now it fits: it goes out
  r.app.on_key(code(Key::Code::Enter));
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(static_cast<Type>(reqs[0].header.type) == Type::Send);
  CHECK(r.app.state().input.empty());
}

TEST_CASE("app: a pasted block keeps its text, turns line breaks (CR LF as one) into spaces, never sends") {
  Rig r;
  r.connect();
  r.type("/send 2 ");
  r.app.on_key(code(Key::Code::PasteBegin));
  Key block = code(Key::Code::PasteText);
  block.text = "one\r";
  r.app.on_key(block);
  block.text = "\ntwo\nthree\rfour";  // the CR LF is cut between two blocks
  r.app.on_key(block);
  r.app.on_key(code(Key::Code::PasteEnd));
  CHECK(r.app.state().input.text() == "/send 2 one two three four");
  CHECK(r.app.state().notice.find("pasted 4 lines joined into one") != std::string::npos);
  CHECK(r.wire->requests().empty());
}

TEST_CASE("app: a paste beyond the limit is cut at a character boundary and said so") {
  Rig r;
  r.app.on_key(code(Key::Code::PasteBegin));
  Key block = code(Key::Code::PasteText);
  block.text = std::string(kMaxPasteBytes - 1, 'x') + "\xc3\xa9" + "tail";  // é straddles the limit
  r.app.on_key(block);
  r.app.on_key(code(Key::Code::PasteEnd));
  CHECK(r.app.state().input.code_points().size() == kMaxPasteBytes - 1);
  CHECK(r.app.state().notice.find("cut at 4 MiB") != std::string::npos);
}

namespace {

// The message ids the client ACKed since the last call.
std::vector<std::uint32_t> acked(FakeWire& wire, std::vector<FakeWire::Request>* acks = nullptr) {
  std::vector<std::uint32_t> ids;
  for (const auto& r : wire.requests()) {
    if (static_cast<Type>(r.header.type) != Type::Ack) continue;
    std::uint32_t id = 0;
    decode_u32(ByteView(r.payload.data(), r.payload.size()), id);
    ids.push_back(id);
    if (acks != nullptr) acks->push_back(r);
  }
  return ids;
}

// One loop turn's output as the full-screen loop does it.
void paint_turn(App& app) {
  app.prepare_paint();
  app.send_due_acks();
}

bool log_has(const State& s, const std::string& part) {
  for (std::size_t i = 0; i < s.log.size(); ++i) {
    if (s.log[i].text.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("app: plain text with nowhere to go stays in the input line (no target, no connection)") {
  Rig r;
  r.type("a draft for nobody");
  r.app.on_key(code(Key::Code::Enter));  // not connected
  CHECK(r.app.state().input.text() == "a draft for nobody");
  CHECK(r.app.state().notice.find("not connected: the line is kept") != std::string::npos);
  r.connect();
  r.wire->requests();
  r.app.on_key(code(Key::Code::Enter));  // connected, but no window nick and nobody picked
  CHECK(r.wire->requests().empty());
  CHECK(r.app.state().input.text() == "a draft for nobody");
  CHECK(r.app.state().notice.find("no client selected") != std::string::npos);
  CHECK(r.app.state().notice.find("the line is kept") != std::string::npos);
  r.app.on_line("/query bob");  // now it has somewhere to go
  r.app.on_key(code(Key::Code::Enter));
  const auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Send);
  CHECK(r.app.state().input.empty());
}

TEST_CASE("app: a message in view is ACKed after the paint that shows it, not before") {
  Rig r;
  r.connect();
  r.wire->requests();
  r.wire->events.push_back(message(70, 2, "alice", "hello"));
  r.app.on_connection_ready();
  CHECK(acked(*r.wire).empty());  // received, not yet painted
  paint_turn(r.app);
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{70});
  paint_turn(r.app);
  CHECK(acked(*r.wire).empty());  // once
}

TEST_CASE("app: a terminal too small shows nothing and ACKs nothing until it grows") {
  Rig r;
  r.connect();
  r.app.on_resize(5, 20);
  r.wire->events.push_back(message(71, 2, "alice", "hello"));
  r.app.on_connection_ready();
  paint_turn(r.app);
  CHECK(r.app.state().view.rows.empty());
  CHECK(acked(*r.wire).empty());
  r.app.on_resize(24, 80);
  paint_turn(r.app);
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{71});
}

TEST_CASE("app: scrolled back, only the message in the preview row is ACKed; the rest when scrolled to") {
  Rig r;
  r.connect();
  for (std::uint32_t i = 0; i < 80; ++i) r.app.on_line("/whois alice");  // something to scroll through
  paint_turn(r.app);
  r.wire->requests();
  r.app.on_key(code(Key::Code::PageUp));
  REQUIRE(r.app.state().log.scroll > 0);
  r.wire->events.push_back(message(80, 2, "alice", "first"));
  r.wire->events.push_back(message(81, 3, "bob", "second"));
  r.app.on_connection_ready();
  paint_turn(r.app);
  const MessageView& v = r.app.state().view;
  REQUIRE(v.has_preview);
  CHECK(r.app.state().log[v.preview_seq - r.app.state().log.first_seq()].text.find("second") != std::string::npos);
  CHECK(v.rows.back().preview);
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{81});  // "first" was never on screen
  paint_turn(r.app);
  CHECK(acked(*r.wire).empty());
  // Back at the bottom "first" shows, after its sender's window: the server
  // says so, and the user reads it in plain words.
  for (int i = 0; i < 5 && r.app.state().log.scroll > 0; ++i) r.app.on_key(code(Key::Code::PageDown));
  REQUIRE(r.app.state().log.scroll == 0);
  paint_turn(r.app);
  std::vector<FakeWire::Request> acks;
  CHECK(acked(*r.wire, &acks) == std::vector<std::uint32_t>{80});
  REQUIRE(acks.size() == 1);
  r.wire->events.push_back(response(acks[0], Status::NoSuchMessage, text_payload("no pending message 80 for you")));
  r.app.on_connection_ready();
  const State& s = r.app.state();
  CHECK(s.log.back().text ==
        "the message from alice above arrived after alice's 5 s delivery window; alice was told it was not delivered");
  CHECK_FALSE(log_has(s, "NO_SUCH_MESSAGE"));
  CHECK_FALSE(log_has(s, "ACK failed"));
}

TEST_CASE("app: in --plain a printed message is shown: every one is ACKed") {
  Options o = default_options();
  o.plain = true;
  Rig r(o);
  r.connect();
  r.wire->requests();
  r.wire->events.push_back(message(90, 2, "alice", "one"));
  r.wire->events.push_back(message(91, 3, "bob", "two"));
  r.app.on_connection_ready();
  r.app.send_due_acks();
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{90, 91});
}

TEST_CASE("windows: keyed by nick in any case; 1:all stays; cycling goes round") {
  Windows w;
  CHECK(w.size() == 1);
  CHECK(w.open("Bob") == 1);
  CHECK(w.open("bob") == 1);
  CHECK(w.open("alice") == 2);
  CHECK(w.find("BOB") == 1);
  CHECK(w.find("carol") == w.size());
  w.cycle(1);
  CHECK(w.active_index() == 1);
  w.cycle(-1);
  w.cycle(-1);
  CHECK(w.active_index() == 2);
  CHECK(w.close_active());
  CHECK(w.size() == 2);
  CHECK(w.active_index() == 1);
  w.select(0);
  CHECK_FALSE(w.close_active());
  CHECK(contains_nick("hey ME, look", "me"));
  CHECK_FALSE(contains_nick("meme and some", "me"));
}

TEST_CASE("app: a message from a new nick opens its window, counts unread and highlights, shows in 1:all") {
  Rig r;
  r.connect();
  r.wire->events.push_back(message(60, 2, "alice", "hi me, are you there"));
  r.wire->events.push_back(message(61, 3, "bob", "lunch?"));
  r.app.on_connection_ready();
  const State& s = r.app.state();
  REQUIRE(s.windows.size() == 3);
  CHECK(s.windows[1].nick == "alice");
  CHECK(s.windows[1].unread == 1);
  CHECK(s.windows[1].highlights == 1);
  CHECK(s.windows[2].highlights == 0);
  CHECK(windows_status(s) == "[1:all] 2:alice(1!) 3:bob(1)");
  CHECK(unread_mark(s, "alice") == " 1 new!");
  paint_turn(r.app);
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{60, 61});  // both on screen in 1:all
  r.app.on_key(ch(U'3', true));  // Alt-3: bob's window, read now
  CHECK(s.windows.active().nick == "bob");
  CHECK(s.windows[2].unread == 0);
  CHECK(input_label(s) == "to bob> ");
  paint_turn(r.app);
  for (const ViewRow& row : s.view.rows) CHECK(s.log[row.seq - s.log.first_seq()].peer == "bob");
}

TEST_CASE("app: /query NICK; plain text goes to whoever has the nick now, across a reconnect") {
  Rig r;
  r.connect();
  r.wire->requests();
  r.app.on_line("/query BOB");  // the client list spells it bob
  CHECK(r.app.state().windows.active().nick == "bob");
  r.type("hi");
  r.app.on_key(code(Key::Code::Enter));
  auto reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  CHECK(type_of(reqs[0]) == Type::Send);
  SendRequest sr;
  decode_send_request(ByteView(reqs[0].payload.data(), reqs[0].payload.size()), sr);
  CHECK(sr.target == 3);
  // bob leaves and comes back as client 7: the same window reaches him.
  Presence left{PresenceEvent::Left, LeaveReason::Bye, entry(3, "bob")};
  Presence joined{PresenceEvent::Joined, LeaveReason::Bye, entry(7, "bob")};
  for (const Presence& p : {left, joined}) {
    Bytes payload;
    put_presence(payload, p);
    r.wire->events.push_back(frame(Kind::Indication, Type::Presence, Status::Ok, 0, payload));
  }
  r.app.on_connection_ready();
  r.type("again");
  r.app.on_key(code(Key::Code::Enter));
  reqs = r.wire->requests();
  REQUIRE(reqs.size() == 1);
  decode_send_request(ByteView(reqs[0].payload.data(), reqs[0].payload.size()), sr);
  CHECK(sr.target == 7);
  CHECK(r.app.state().windows.size() == 2);
  r.app.on_key(code(Key::Code::NextWindow));
  CHECK(r.app.state().windows.active_index() == 0);
  r.app.on_key(code(Key::Code::PrevWindow));
  r.app.on_line("/clear");
  paint_turn(r.app);
  CHECK(r.app.state().view.rows.empty());
  r.app.on_line("/close");
  CHECK(r.app.state().windows.size() == 1);
}

TEST_CASE("app: a message for another window shows in the preview row and is ACKed there") {
  Rig r;
  r.connect();
  r.app.on_line("/query bob");
  paint_turn(r.app);
  r.wire->requests();
  r.wire->events.push_back(message(65, 2, "alice", "psst"));
  r.app.on_connection_ready();
  paint_turn(r.app);
  const MessageView& v = r.app.state().view;
  REQUIRE(v.has_preview);
  CHECK(acked(*r.wire) == std::vector<std::uint32_t>{65});
  r.app.on_key(ch(U'3', true));  // alice's window shows it: no preview there
  paint_turn(r.app);
  CHECK_FALSE(r.app.state().view.has_preview);
}

TEST_CASE("layout: the function-key bar below 110 columns, the clients pane hidden below 60; Alt-U toggles it") {
  const Layout wide = compute_layout(40, 160);
  CHECK_FALSE(wide.menu_bar);
  CHECK(wide.clients_shown);
  const Layout l80 = compute_layout(24, 80);
  CHECK(l80.menu_bar);
  CHECK(l80.clients_shown);
  CHECK(l80.messages.x == 0);
  CHECK(l80.messages.w + 1 + l80.clients.w == 80);
  CHECK(l80.bar_row == 21);
  const Layout l40 = compute_layout(10, 40);
  CHECK_FALSE(l40.too_small);
  CHECK_FALSE(l40.clients_shown);
  CHECK(l40.messages.w == 40);
  CHECK(l40.messages.h == 5);
  CHECK(compute_layout(9, 40).too_small);
  CHECK(compute_layout(10, 39).too_small);
  Rig r;
  r.app.on_resize(10, 40);
  r.app.on_key(ch(U'u', true));
  CHECK(r.app.state().layout.clients_shown);
  r.app.on_resize(12, 44);  // kept across a resize
  CHECK(r.app.state().layout.clients_shown);
  r.app.on_key(ch(U'u', true));
  CHECK_FALSE(r.app.state().layout.clients_shown);
  r.app.on_resize(24, 80);  // toggled back to what the width says: Auto again
  CHECK(r.app.state().layout.clients_shown);
}
