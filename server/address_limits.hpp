// Per-address admission: how many clients one source address may have
// connected (--max-clients-per-ip) and how fast it may open connections
// (--max-connect-rate).  An "address" is an IPv4 address or an IPv6 /64: a
// single IPv6 host is routinely given a whole /64, so counting per /128
// would limit nothing.  Main thread only: it admits, and it reaps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/protocol.hpp"
#include "server/token_bucket.hpp"

namespace sc::server {

class AddressLimits {
 public:
  using Clock = TokenBucket::Clock;
  enum class Verdict { Admit, TooMany, TooFast };

  AddressLimits(std::uint32_t max_per_address, std::uint32_t connect_rate)
      : max_(max_per_address), rate_(connect_rate) {}

  // A connection from `a` arrived.  Every attempt takes a token, refused or
  // not, so hammering keeps an address limited; Admit counts it open.
  Verdict arrive(const Addr& a, Clock::time_point now);
  // An admitted connection from `a` ended.
  void leave(const Addr& a);
  // Forgets addresses with nothing open and a full bucket (they behave like
  // new ones), so the table stays as small as the recent traffic.
  void prune(Clock::time_point now);
  std::size_t tracked() const { return table_.size(); }

  // "203.0.113.7" or "2001:db8:1:2::/64", for log lines and ERROR texts.
  static std::string describe(const Addr& a);

 private:
  struct State {
    std::uint32_t open = 0;
    TokenBucket bucket;
  };
  static std::string key_of(const Addr& a);

  const std::uint32_t max_;
  const std::uint32_t rate_;
  std::unordered_map<std::string, State> table_;
};

}  // namespace sc::server
