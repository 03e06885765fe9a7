#include "server/delivery.hpp"

namespace sc::server {

void Deliveries::add(const Pending& p) {
  std::lock_guard lock(mu_);
  pending_.emplace(p.message_id, p);
}

std::optional<Pending> Deliveries::take(std::uint32_t message_id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(message_id);
  if (it == pending_.end()) return std::nullopt;
  Pending p = it->second;
  pending_.erase(it);
  return p;
}

std::optional<Pending> Deliveries::take_for_target(std::uint32_t message_id,
                                                   std::uint32_t target) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(message_id);
  if (it == pending_.end() || it->second.target != target) return std::nullopt;
  Pending p = it->second;
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
    it = pending_.erase(it);
  }
  return failed;
}

}  // namespace sc::server
