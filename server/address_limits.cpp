#include "server/address_limits.hpp"

#include <arpa/inet.h>

namespace sc::server {

std::string AddressLimits::key_of(const Addr& a) {
  // Family byte, then the address (IPv4) or its first 64 bits (IPv6).
  const std::size_t n = a.family == 4 ? 4 : 8;
  std::string key(1, static_cast<char>(a.family));
  key.append(reinterpret_cast<const char*>(a.bytes.data()), n);
  return key;
}

std::string AddressLimits::describe(const Addr& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.family == 4) {
    inet_ntop(AF_INET, a.bytes.data(), text, sizeof text);
    return text;
  }
  std::uint8_t prefix[16] = {};
  for (int i = 0; i < 8; ++i) prefix[i] = a.bytes[static_cast<std::size_t>(i)];
  inet_ntop(AF_INET6, prefix, text, sizeof text);
  return std::string(text) + "/64";
}

AddressLimits::Verdict AddressLimits::arrive(const Addr& a, Clock::time_point now) {
  if (max_ == 0 && rate_ == 0) return Verdict::Admit;
  auto [it, fresh] = table_.try_emplace(key_of(a));
  State& s = it->second;
  if (fresh) s.bucket = TokenBucket(rate_, 2.0 * rate_, now);
  if (!s.bucket.take(1, now)) return Verdict::TooFast;
  if (max_ != 0 && s.open >= max_) return Verdict::TooMany;
  ++s.open;
  return Verdict::Admit;
}

void AddressLimits::leave(const Addr& a) {
  if (max_ == 0 && rate_ == 0) return;
  auto it = table_.find(key_of(a));
  if (it != table_.end() && it->second.open > 0) --it->second.open;
}

void AddressLimits::prune(Clock::time_point now) {
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.open == 0 && it->second.bucket.full(now)) {
      it = table_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace sc::server
