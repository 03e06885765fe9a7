#include <doctest/doctest.h>

#include "tui-client/commands.hpp"

using namespace sc::tui;

TEST_CASE("plain text is for the selected client; // escapes a slash") {
  auto r = parse_command("hello  there ");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Say);
  CHECK(r.command.text == "hello  there ");
  r = parse_command("//etc/passwd is a path");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Say);
  CHECK(r.command.text == "/etc/passwd is a path");
  CHECK(parse_command("   ").command.kind == CommandKind::Empty);
}

TEST_CASE("/connect with defaults, host, host and port") {
  auto r = parse_command("/connect");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Connect);
  CHECK(r.command.host == "127.0.0.1");
  CHECK(r.command.port == "2555");
  r = parse_command("/connect ::1 4000");
  REQUIRE(r.ok);
  CHECK(r.command.host == "::1");
  CHECK(r.command.port == "4000");
  CHECK_FALSE(parse_command("/connect host 70000").ok);
  CHECK_FALSE(parse_command("/connect host 0").ok);
  CHECK_FALSE(parse_command("/connect host 12x").ok);
  CHECK_FALSE(parse_command("/connect a 1 extra").ok);
}

TEST_CASE("/time N is bounded to 1..10000") {
  CHECK(parse_command("/time").command.count == 1);
  CHECK(parse_command("/time 100").command.count == 100);
  CHECK(parse_command("/time 10000").ok);
  CHECK_FALSE(parse_command("/time 10001").ok);
  CHECK_FALSE(parse_command("/time 0").ok);
  CHECK_FALSE(parse_command("/time -3").ok);
  CHECK_FALSE(parse_command("/time lots").ok);
}

TEST_CASE("/send ID TEXT keeps the text as typed") {
  auto r = parse_command("/send 42 hi  there\r\n");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Send);
  CHECK(r.command.target == 42);
  CHECK(r.command.text == "hi  there");
  CHECK(parse_command("/msg 7 x").command.target == 7);
  CHECK_FALSE(parse_command("/send").ok);
  CHECK_FALSE(parse_command("/send 42").ok);
  CHECK_FALSE(parse_command("/send 42   ").ok);
  CHECK_FALSE(parse_command("/send 0 hi").ok);
  CHECK_FALSE(parse_command("/send 4294967296 hi").ok);
}

TEST_CASE("/msg and /send take a nick too; /whois NICK|ID") {
  auto r = parse_command("/msg bob hi  there");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Send);
  CHECK(r.command.who == "bob");
  CHECK(r.command.target == 0);
  CHECK(r.command.text == "hi  there");
  CHECK(parse_command("/send alice x").command.who == "alice");
  r = parse_command("/msg bob");
  CHECK_FALSE(r.ok);
  CHECK(r.error == "usage: /msg NICK|ID TEXT (the text is missing)");
  r = parse_command("/whois alice");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Whois);
  CHECK(r.command.who == "alice");
  CHECK(parse_command("/whois 12").command.target == 12);
  CHECK_FALSE(parse_command("/whois").ok);
  CHECK_FALSE(parse_command("/whois a b").ok);
  CHECK_FALSE(parse_command("/whois 0").ok);
}

TEST_CASE("the other commands, and their argument checks") {
  CHECK(parse_command("/disconnect").command.kind == CommandKind::Disconnect);
  CHECK(parse_command("/name").command.kind == CommandKind::Name);
  CHECK(parse_command("/list").command.kind == CommandKind::List);
  CHECK(parse_command("/help").command.kind == CommandKind::Help);
  CHECK(parse_command("/quit").command.kind == CommandKind::Quit);
  auto r = parse_command("/nick alice");
  REQUIRE(r.ok);
  CHECK(r.command.kind == CommandKind::Nick);
  CHECK(r.command.text == "alice");
  CHECK_FALSE(parse_command("/nick").ok);
  CHECK_FALSE(parse_command("/nick two words").ok);
  CHECK_FALSE(parse_command("/list now").ok);
  r = parse_command("/frobnicate");
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("/help") != std::string::npos);
}
