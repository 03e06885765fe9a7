// A token bucket: the one rate-limiting mechanism of sockchatd (SENDs and
// their bytes, request cost, nick changes, connections per address).
#pragma once

#include <algorithm>
#include <chrono>

namespace sc::server {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket() = default;
  // `rate` tokens per second, at most `burst` saved; starts full.  A zero
  // rate means unlimited.
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), at_(now) {}

  // Takes `cost` tokens if there are that many.  A cost above the burst is
  // charged as a full bucket, so that one large request can always pass
  // after a quiet moment.
  bool take(double cost, Clock::time_point now) {
    if (rate_ == 0) return true;
    refill(now);
    cost = std::min(cost, burst_);
    if (tokens_ < cost) return false;
    tokens_ -= cost;
    return true;
  }

  // True when the bucket is full again: it then behaves like a new one and
  // may be forgotten.
  bool full(Clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

 private:
  void refill(Clock::time_point now) {
    const std::chrono::duration<double> elapsed = now - at_;
    if (elapsed.count() > 0) {
      tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
      at_ = now;
    }
  }

  double rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  Clock::time_point at_{};
};

}  // namespace sc::server
