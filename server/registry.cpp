#include "server/registry.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

namespace sc::server {

void Registry::add(const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
  peers_.emplace(peer->id(), peer);
}

void Registry::remove(std::uint32_t id) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  const std::string& nick = it->second->entry_.nick;
  auto n = nicks_.find(nick);
  if (n != nicks_.end() && n->second == id) nicks_.erase(n);
  subscribers_.erase(id);
  peers_.erase(it);
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

NickResult Registry::set_nick(Peer& peer, std::string_view nick) {
  std::lock_guard lock(mu_);
  if (peer.entry_.nick == nick) return NickResult::Unchanged;
  std::string key(nick);
  auto it = nicks_.find(key);
  if (it != nicks_.end()) return NickResult::InUse;
  if (!peer.entry_.nick.empty()) nicks_.erase(peer.entry_.nick);
  nicks_.emplace(key, peer.id());
  peer.entry_.nick = std::move(key);
  return NickResult::Changed;
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

std::size_t Registry::put_list(Bytes& out) const {
  std::lock_guard lock(mu_);
  const std::size_t count_at = out.size();
  put_u32(out, 0);
  const std::size_t limit = count_at + kMaxServerPayload;
  std::uint32_t listed = 0;
  for (const auto& [id, peer] : peers_) {
    const std::size_t before = out.size();
    put_entry(out, peer->entry_);
    if (out.size() > limit) {
      out.resize(before);
      break;
    }
    ++listed;
  }
  const std::uint32_t be = htonl(listed);
  std::memcpy(out.data() + count_at, &be, sizeof be);
  return peers_.size() - listed;
}

void Registry::publish(PresenceEvent event, LeaveReason reason, const Peer& subject) {
  std::lock_guard turn(publish_mu_);
  Bytes frame;
  std::vector<std::shared_ptr<Peer>> to;
  {
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) return;
    const std::size_t at = begin_frame(frame, Kind::Indication,
                                       static_cast<std::uint8_t>(Type::Presence), 0, 0);
    Presence p;
    p.event = event;
    p.reason = event == PresenceEvent::Left ? reason : LeaveReason::Bye;
    p.entry = subject.entry_;  // the nick needs mu_
    put_presence(frame, p);
    end_frame(frame, at);
    to.reserve(subscribers_.size());
    for (const auto& [id, peer] : subscribers_) to.push_back(peer);
  }
  // A subscriber that is dead or closing simply misses the event.
  for (const auto& peer : to) peer->post(frame);
}

}  // namespace sc::server
