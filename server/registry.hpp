// Connected clients as every thread sees them: ids, nicks, subscriptions,
// and each client's Peer, through which other threads reach it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/codec.hpp"
#include "server/peer.hpp"

namespace sc::server {

enum class NickResult { Changed, Unchanged, InUse };
enum class SignInResult { Done, InUse };

// A LIST response payload, shared by every LIST until the next change.
struct ListPayload {
  Bytes bytes;              // count, then the entries ascending by id
  std::size_t left_out = 0; // entries that did not fit in one frame
};

class Registry {
 public:
  void add(const std::shared_ptr<Peer>& peer);
  void remove(std::uint32_t id);
  std::shared_ptr<Peer> find(std::uint32_t id) const;
  std::size_t size() const;

  // Nicks are unique among connected clients by `key` (the caller's
  // comparison key: case-folded confusable skeleton), so "ALICE" is in use
  // once "alice" is.  Setting one's own current nick again is Unchanged (no
  // RENAMED event); changing only its case or look-alikes is allowed.
  NickResult set_nick(Peer& peer, std::string_view nick, std::string key);
  // Whether a client other than `self` holds a nick with this key (as a
  // guest, or signed in to an account of that name).
  bool key_taken(const std::string& key, std::uint32_t self) const;
  // A successful AUTH: the account's name becomes the peer's nick (its
  // guest nick, if any, is released), and a peer not yet in the registry
  // (the server requires sign-in) is added with it, so that LIST never
  // shows it without.  Several connections may share one account and so
  // its name; InUse when a guest holds the name or a confusable one (it
  // took it before a reload made it an account's).
  SignInResult sign_in(const std::shared_ptr<Peer>& peer, std::string_view account,
                       std::string key);
  void set_subscribed(const std::shared_ptr<Peer>& peer, bool on);

  // The LIST response payload: count, then the entries ascending by id, as
  // many as fit in kMaxServerPayload, the most a client accepts (that takes
  // over 260,000 clients).  Built once per change of the client set, and
  // outside the lock (the lock is held to copy the entries), so a LIST flood
  // with thousands of clients neither re-encodes per request nor stalls
  // SEND, NICK and joins on other threads.
  std::shared_ptr<const ListPayload> list() const;

  // Sends a PRESENCE indication about `subject` to every subscriber.
  // Publishers take turns (publish_mu_), so every subscriber sees the same
  // order of events; the registry's own lock is held only to copy the
  // subscriber list, not across the posts (a send() each), so a join or
  // leave fanned out to thousands of subscribers does not stall SEND, LIST
  // and NICK on every other thread.
  void publish(PresenceEvent event, LeaveReason reason, const Peer& subject);

  // --- Clients of other nodes (--cluster; see server/cluster.hpp) -------
  // A replica kept by the cluster thread from the other nodes' presence
  // events and snapshots: LIST shows these entries beside ours, and SEND to
  // one of them goes through the broker.  Each state carries its origin
  // node's sequence number, so that a snapshot read after a reconnect and
  // an older event still queued behind it can come in either order: what
  // is older than the replica's state is ignored.  Applying what changes
  // nothing (a JOINED for an entry already known as it is, a LEFT for an
  // unknown id) returns false, so that subscribers hear each event exactly
  // once however often a node re-announces its clients.
  // `key` is the nick's comparison key (empty for no nick): a guest here
  // cannot take a nick another node's client holds, nor sign in to an
  // account whose name another node's guest holds, as far as this replica
  // knows (two nodes renaming at the same instant may both succeed).
  struct RemoteClient {
    Entry entry;
    std::uint64_t seq = 0;  // its node's sequence number of this state
    bool account = false;   // signed in: its nick is an account's name
    bool operator==(const RemoteClient&) const = default;
  };
  bool remote_upsert(const RemoteClient& c, std::string key, PresenceEvent& event);
  // Removes `id` unless the replica holds a newer state than `seq`.
  bool remote_remove(std::uint32_t id, std::uint64_t seq, Entry& gone);
  bool remote_contains(std::uint32_t id) const;
  std::size_t remote_count() const;
  std::map<std::uint32_t, RemoteClient> remote_entries() const;
  // Our own clients, ascending by id, and whether each is signed in.
  struct LocalClient {
    Entry entry;
    bool account = false;
  };
  std::vector<LocalClient> local_entries() const;
  // Sends a PRESENCE indication about another node's client.
  void publish_entry(PresenceEvent event, LeaveReason reason, const Entry& subject);

 private:
  void forget_remote_key_locked(std::uint32_t id);
  void note_remote_key_locked(std::uint32_t id, std::string key, bool account);
  void publish_about(PresenceEvent event, LeaveReason reason, const Peer* peer, const Entry* entry);
  void fan_out_locked(PresenceEvent event, LeaveReason reason, const Entry& subject, Bytes& frame,
                      std::vector<std::shared_ptr<Peer>>& to) const;

  // Lock order: publish_mu_, then mu_, then a Peer's.
  std::mutex publish_mu_;
  mutable std::mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<Peer>> peers_;  // ordered: LIST is by id
  std::map<std::uint32_t, std::shared_ptr<Peer>> subscribers_;
  std::unordered_map<std::string, std::uint32_t> nicks_;  // key -> id
  std::unordered_map<std::uint32_t, std::string> keys_;   // id -> its nick's key
  // Signed-in clients: key of the account name -> how many connections,
  // and id -> that key.  Kept apart from the guests' nicks_, which map a
  // key to one client only.
  std::unordered_map<std::string, std::uint32_t> signed_in_;
  std::unordered_map<std::uint32_t, std::string> account_keys_;
  std::map<std::uint32_t, RemoteClient> remote_;  // other nodes' clients
  struct RemoteKey {
    std::string key;
    bool account = false;
  };
  std::unordered_map<std::uint32_t, RemoteKey> remote_keys_;   // id -> its nick's key
  std::unordered_map<std::string, std::uint32_t> remote_holders_;  // nick key -> holders
  std::unordered_map<std::string, std::uint32_t> remote_guests_;   // the guests among them
  std::uint64_t generation_ = 0;  // bumped by every change LIST shows
  mutable std::shared_ptr<const ListPayload> list_;       // of list_generation_
  mutable std::uint64_t list_generation_ = ~std::uint64_t{0};
};

}  // namespace sc::server
