#include "server/delivery.hpp"

#include <algorithm>

namespace sc::server {

std::optional<std::uint64_t> Deliveries::add_within(const Pending& p, std::uint64_t cap) {
  std::lock_guard lock(mu_);
  std::uint64_t& unacked = unacked_[p.target];
  if (unacked + p.bytes > cap) {
    const std::uint64_t before = unacked;
    if (before == 0) unacked_.erase(p.target);
    return before;
  }
  unacked += p.bytes;
  pending_.emplace(p.message_id, p);
  return std::nullopt;
}

void Deliveries::forget_locked(std::unordered_map<std::uint32_t, Pending>::iterator it) {
  auto u = unacked_.find(it->second.target);
  if (u != unacked_.end()) {
    u->second -= std::min<std::uint64_t>(u->second, it->second.bytes);
    if (u->second == 0) unacked_.erase(u);
  }
}

std::optional<Pending> Deliveries::take(std::uint32_t message_id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(message_id);
  if (it == pending_.end()) return std::nullopt;
  Pending p = it->second;
  forget_locked(it);
  pending_.erase(it);
  return p;
}

std::optional<Pending> Deliveries::take_for_target(std::uint32_t message_id,
                                                   std::uint32_t target) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(message_id);
  if (it == pending_.end() || it->second.target != target) return std::nullopt;
  Pending p = it->second;
  forget_locked(it);
  pending_.erase(it);
  return p;
}

bool Deliveries::is_pending(std::uint32_t message_id) const {
  std::lock_guard lock(mu_);
  return pending_.contains(message_id);
}

std::vector<Pending> Deliveries::take_all_for(std::uint32_t client) {
  std::vector<Pending> failed;
  std::lock_guard lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    const Pending& p = it->second;
    if (p.sender != client && p.target != client) {
      ++it;
      continue;
    }
    if (p.sender != client) failed.push_back(p);
    forget_locked(it);
    it = pending_.erase(it);
  }
  return failed;
}

}  // namespace sc::server
