#include "server/registry.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "common/net.hpp"

namespace sc::server {

Peer::Peer(const Entry& entry, int wake_fd, std::uint64_t sendq)
    : entry_(entry), sendq_(sendq), wake_fd_(wake_fd) {}

Peer::~Peer() { close_wake_fd(); }

bool Peer::post(ByteView frame) {
  std::lock_guard lock(mu_);
  if (retired_ || dead_) return false;
  const std::uint64_t backlog =
      outbox_.size() + unsent_.load(std::memory_order_relaxed) + frame.size();
  if (backlog > sendq_) {
    dead_ = true;
    net::signal_wake(wake_fd_);
    return false;
  }
  const bool was_empty = outbox_.empty();
  outbox_.insert(outbox_.end(), frame.begin(), frame.end());
  if (was_empty) net::signal_wake(wake_fd_);
  return true;
}

void Peer::request_stop() {
  std::lock_guard lock(mu_);
  if (wake_fd_ < 0 || stop_) return;
  stop_ = true;
  net::signal_wake(wake_fd_);
}

Peer::Flags Peer::take(Bytes& out) {
  std::lock_guard lock(mu_);
  if (!outbox_.empty()) {
    if (out.empty()) {
      out.swap(outbox_);
    } else {
      out.insert(out.end(), outbox_.begin(), outbox_.end());
      outbox_.clear();
    }
  }
  return Flags{dead_, stop_};
}

void Peer::retire() {
  std::lock_guard lock(mu_);
  retired_ = true;
  Bytes().swap(outbox_);
}

bool Peer::stop_requested() {
  std::lock_guard lock(mu_);
  return stop_;
}

void Peer::close_wake_fd() {
  std::lock_guard lock(mu_);
  if (wake_fd_ >= 0) {
    net::close_keep_errno(wake_fd_);
    wake_fd_ = -1;
  }
}

void Peer::release_idle_memory() {
  std::lock_guard lock(mu_);
  if (outbox_.empty()) Bytes().swap(outbox_);
}

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

void Registry::set_subscribed(const std::shared_ptr<Peer>& peer, bool on) {
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
  std::lock_guard lock(mu_);
  if (subscribers_.empty()) return;
  Bytes frame;
  const std::size_t at = begin_frame(frame, Kind::Indication,
                                     static_cast<std::uint8_t>(Type::Presence), 0, 0);
  Presence p;
  p.event = event;
  p.reason = event == PresenceEvent::Left ? reason : LeaveReason::Bye;
  p.entry = subject.entry_;
  put_presence(frame, p);
  end_frame(frame, at);
  // A subscriber that is dead or closing simply misses the event.
  for (const auto& [id, peer] : subscribers_) peer->post(frame);
}

}  // namespace sc::server
