// The Registry's replica of other nodes' clients (sockchatd --cluster):
// sequence numbers decide between a snapshot and the events queued behind
// it, and nick keys keep guests and accounts apart across nodes.  Peers
// here have no socket (fd -1): nothing is posted to them.
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "server/nick_policy.hpp"
#include "server/registry.hpp"

namespace sc::test {
namespace {

using server::NickResult;
using server::Registry;
using server::SignInResult;

constexpr std::uint32_t kRemote = (2u << 24) | 7;  // client 7 of node 2

Registry::RemoteClient remote(const std::string& nick, std::uint64_t seq, bool account = false) {
  return {Entry{kRemote, Addr{}, 0, nick}, seq, account};
}

// The event an upsert produced, or "none" when subscribers hear nothing.
std::string upsert(Registry& r, const Registry::RemoteClient& c) {
  PresenceEvent event{};
  if (!r.remote_upsert(c, server::nick_key(c.entry.nick), event)) return "none";
  return event == PresenceEvent::Joined ? "joined" : "renamed";
}

std::string nick_of(const Registry& r, std::uint32_t id) {
  const auto all = r.remote_entries();
  auto it = all.find(id);
  return it == all.end() ? "(absent)" : it->second.entry.nick;
}

std::shared_ptr<server::Peer> local_peer(std::uint32_t id) {
  return std::make_shared<server::Peer>(Entry{id, Addr{}, 0, ""}, -1, 1 << 20);
}

TEST_CASE("an older state never replaces a newer one, in either order") {
  Registry r;
  CHECK(upsert(r, remote("bob", 10)) == "joined");
  // A snapshot read after a reconnect already holds the rename to bob2 ...
  CHECK(upsert(r, remote("bob2", 12)) == "renamed");
  // ... and the events behind it arrive late: nothing changes, nothing is heard.
  CHECK(upsert(r, remote("bob", 10)) == "none");
  CHECK(upsert(r, remote("bobA", 11)) == "none");
  CHECK(nick_of(r, kRemote) == "bob2");
  Entry gone;
  CHECK_FALSE(r.remote_remove(kRemote, 11, gone));  // a LEFT older than bob2
  CHECK(r.remote_contains(kRemote));
  CHECK(r.remote_remove(kRemote, 12, gone));  // the LEFT of that state
  CHECK(gone.nick == "bob2");
  CHECK_FALSE(r.remote_remove(kRemote, 12, gone));  // heard once
  // A node that re-registers after it was reaped numbers past the reap.
  CHECK(upsert(r, remote("bob2", 13)) == "joined");
}

TEST_CASE("the same state announced again is not an event; a sign-in is") {
  Registry r;
  CHECK(upsert(r, remote("carol", 1)) == "joined");
  CHECK(upsert(r, remote("carol", 5)) == "none");  // a re-register
  CHECK(r.remote_entries().at(kRemote).seq == 5);
  CHECK(upsert(r, remote("carol", 6, true)) == "renamed");  // the guest signed in as carol
  CHECK(r.list()->bytes.size() > 4);
}

TEST_CASE("another node's guest holds its nick against a sign-in here; an account does not") {
  Registry r;
  const auto me = local_peer(1);
  r.add(me);
  CHECK(upsert(r, remote("carol", 1)) == "joined");
  CHECK(r.sign_in(me, "Carol", server::nick_key("Carol")) == SignInResult::InUse);
  CHECK(r.set_nick(*me, "CAROL", server::nick_key("CAROL")) == NickResult::InUse);
  CHECK(r.key_taken(server::nick_key("carol"), 1));
  // Signed in there: the same account may be signed in on several nodes,
  // but a guest here still may not take its name.
  CHECK(upsert(r, remote("carol", 2, true)) == "renamed");
  CHECK(r.set_nick(*me, "carol", server::nick_key("carol")) == NickResult::InUse);
  CHECK(r.sign_in(me, "carol", server::nick_key("carol")) == SignInResult::Done);
  Entry gone;
  CHECK(r.remote_remove(kRemote, 2, gone));
  CHECK_FALSE(r.key_taken(server::nick_key("dave"), 1));
}

TEST_CASE("a guest's nick is free again once it leaves its node") {
  Registry r;
  const auto me = local_peer(1);
  r.add(me);
  CHECK(upsert(r, remote("erin", 1)) == "joined");
  CHECK(r.sign_in(me, "erin", server::nick_key("erin")) == SignInResult::InUse);
  CHECK(upsert(r, remote("erin2", 2)) == "renamed");  // the guest renamed itself
  CHECK(r.sign_in(me, "erin", server::nick_key("erin")) == SignInResult::Done);
}

}  // namespace
}  // namespace sc::test
