#include "server/registry.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace sc::server {

void Registry::add(const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
  peers_.emplace(peer->id(), peer);
  ++generation_;
}

void Registry::remove(std::uint32_t id) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  if (auto k = keys_.find(id); k != keys_.end()) {
    nicks_.erase(k->second);
    keys_.erase(k);
  }
  if (auto k = account_keys_.find(id); k != account_keys_.end()) {
    if (--signed_in_[k->second] == 0) signed_in_.erase(k->second);
    account_keys_.erase(k);
  }
  subscribers_.erase(id);
  peers_.erase(it);
  ++generation_;
}

std::shared_ptr<Peer> Registry::find(std::uint32_t id) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

std::size_t Registry::size() const {
  std::lock_guard lock(mu_);
  return peers_.size();
}

NickResult Registry::set_nick(Peer& peer, std::string_view nick, std::string key) {
  std::lock_guard lock(mu_);
  if (peer.entry_.nick == nick) return NickResult::Unchanged;
  auto it = nicks_.find(key);
  if (it != nicks_.end() && it->second != peer.id()) return NickResult::InUse;
  if (signed_in_.contains(key) || remote_holders_.contains(key)) return NickResult::InUse;
  if (auto old = keys_.find(peer.id()); old != keys_.end()) nicks_.erase(old->second);
  nicks_[key] = peer.id();
  keys_[peer.id()] = std::move(key);
  peer.entry_.nick = std::string(nick);
  ++generation_;
  return NickResult::Changed;
}

bool Registry::key_taken(const std::string& key, std::uint32_t self) const {
  std::lock_guard lock(mu_);
  auto it = nicks_.find(key);
  return (it != nicks_.end() && it->second != self) || signed_in_.contains(key) ||
         remote_holders_.contains(key);
}

SignInResult Registry::sign_in(const std::shared_ptr<Peer>& peer, std::string_view account,
                               std::string key) {
  std::lock_guard lock(mu_);
  auto it = nicks_.find(key);
  if (it != nicks_.end() && it->second != peer->id()) return SignInResult::InUse;
  if (remote_guests_.contains(key)) return SignInResult::InUse;  // a guest on another node
  if (auto old = keys_.find(peer->id()); old != keys_.end()) {
    nicks_.erase(old->second);
    keys_.erase(old);
  }
  ++signed_in_[key];
  account_keys_[peer->id()] = std::move(key);
  peer->entry_.nick = std::string(account);
  peers_.emplace(peer->id(), peer);
  ++generation_;
  return SignInResult::Done;
}

// Waits for a publish in progress, so that no event reaches a client after
// the answer to its unsubscribe.
void Registry::set_subscribed(const std::shared_ptr<Peer>& peer, bool on) {
  std::lock_guard turn(publish_mu_);
  std::lock_guard lock(mu_);
  if (!peers_.contains(peer->id())) return;  // already left
  if (on) {
    subscribers_.emplace(peer->id(), peer);
  } else {
    subscribers_.erase(peer->id());
  }
}

std::shared_ptr<const ListPayload> Registry::list() const {
  std::vector<Entry> entries;
  std::uint64_t generation;
  bool has_remote = false;  // remote_ is the cluster thread's: read it under mu_ only
  {
    std::lock_guard lock(mu_);
    if (list_ && list_generation_ == generation_) return list_;
    generation = generation_;
    has_remote = !remote_.empty();
    entries.reserve(peers_.size() + remote_.size());
    for (const auto& [id, peer] : peers_) entries.push_back(peer->entry_);
    for (const auto& [id, c] : remote_) entries.push_back(c.entry);
  }
  // Ours and the other nodes' ids interleave (the node is in the high bits).
  if (has_remote) {
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.id < b.id; });
  }
  auto built = std::make_shared<ListPayload>();
  Bytes& out = built->bytes;
  put_u32(out, 0);
  std::uint32_t listed = 0;
  for (const Entry& e : entries) {
    const std::size_t before = out.size();
    put_entry(out, e);
    if (out.size() > kMaxServerPayload) {
      out.resize(before);
      break;
    }
    ++listed;
  }
  const std::uint32_t be = htonl(listed);
  std::memcpy(out.data(), &be, sizeof be);
  built->left_out = entries.size() - listed;
  std::lock_guard lock(mu_);
  // Another thread may have cached a newer one meanwhile; ours is still the
  // right answer for this request (the set as it was when it arrived).
  if (generation == generation_) {
    list_ = built;
    list_generation_ = generation;
  }
  return built;
}

void Registry::fan_out_locked(PresenceEvent event, LeaveReason reason, const Entry& subject,
                              Bytes& frame, std::vector<std::shared_ptr<Peer>>& to) const {
  const std::size_t at =
      begin_frame(frame, Kind::Indication, static_cast<std::uint8_t>(Type::Presence), 0, 0);
  Presence p;
  p.event = event;
  p.reason = event == PresenceEvent::Left ? reason : LeaveReason::Bye;
  p.entry = subject;
  put_presence(frame, p);
  end_frame(frame, at);
  to.reserve(subscribers_.size());
  for (const auto& [id, peer] : subscribers_) to.push_back(peer);
}

void Registry::publish(PresenceEvent event, LeaveReason reason, const Peer& subject) {
  publish_about(event, reason, &subject, nullptr);
}

void Registry::publish_entry(PresenceEvent event, LeaveReason reason, const Entry& subject) {
  publish_about(event, reason, nullptr, &subject);
}

// About one of our clients (`peer`, whose nick needs mu_) or another node's
// (`entry`).
void Registry::publish_about(PresenceEvent event, LeaveReason reason, const Peer* peer,
                             const Entry* entry) {
  std::lock_guard turn(publish_mu_);
  Bytes frame;
  std::vector<std::shared_ptr<Peer>> to;
  {
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) return;
    fan_out_locked(event, reason, peer != nullptr ? peer->entry_ : *entry, frame, to);
  }
  // A subscriber that is dead or closing simply misses the event.
  for (const auto& p : to) p->post(frame);
}

namespace {

void count_down(std::unordered_map<std::string, std::uint32_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it != counts.end() && --it->second == 0) counts.erase(it);
}

}  // namespace

void Registry::forget_remote_key_locked(std::uint32_t id) {
  auto k = remote_keys_.find(id);
  if (k == remote_keys_.end()) return;
  count_down(remote_holders_, k->second.key);
  if (!k->second.account) count_down(remote_guests_, k->second.key);
  remote_keys_.erase(k);
}

void Registry::note_remote_key_locked(std::uint32_t id, std::string key, bool account) {
  forget_remote_key_locked(id);
  if (key.empty()) return;
  ++remote_holders_[key];
  if (!account) ++remote_guests_[key];
  remote_keys_.emplace(id, RemoteKey{std::move(key), account});
}

bool Registry::remote_upsert(const RemoteClient& c, std::string key, PresenceEvent& event) {
  std::lock_guard lock(mu_);
  auto [it, added] = remote_.try_emplace(c.entry.id, c);
  if (!added) {
    if (it->second.seq >= c.seq) return false;  // older than what we hold
    const bool changed = it->second.entry != c.entry || it->second.account != c.account;
    it->second = c;
    if (!changed) return false;
  }
  note_remote_key_locked(c.entry.id, std::move(key), c.account);
  event = added ? PresenceEvent::Joined : PresenceEvent::Renamed;
  ++generation_;
  return true;
}

bool Registry::remote_remove(std::uint32_t id, std::uint64_t seq, Entry& gone) {
  std::lock_guard lock(mu_);
  auto it = remote_.find(id);
  if (it == remote_.end() || it->second.seq > seq) return false;
  gone = std::move(it->second.entry);
  remote_.erase(it);
  forget_remote_key_locked(id);
  ++generation_;
  return true;
}

bool Registry::remote_contains(std::uint32_t id) const {
  std::lock_guard lock(mu_);
  return remote_.contains(id);
}

std::size_t Registry::remote_count() const {
  std::lock_guard lock(mu_);
  return remote_.size();
}

std::map<std::uint32_t, Registry::RemoteClient> Registry::remote_entries() const {
  std::lock_guard lock(mu_);
  return remote_;
}

std::vector<Registry::LocalClient> Registry::local_entries() const {
  std::vector<LocalClient> out;
  std::lock_guard lock(mu_);
  out.reserve(peers_.size());
  for (const auto& [id, peer] : peers_) out.push_back({peer->entry_, account_keys_.contains(id)});
  return out;
}

}  // namespace sc::server
