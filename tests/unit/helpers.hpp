// Small helpers shared by the unit tests.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/codec.hpp"

namespace sc::test {

inline ByteView view(const Bytes& b) { return ByteView(b.data(), b.size()); }

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline ByteView view(std::string_view s) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// An Addr from text, e.g. addr_of("127.0.0.1", 51234) or addr_of("::1", 1);
// family 0 when the text is not an address.
inline Addr addr_of(const char* ip, std::uint16_t port) {
  Addr a;
  a.port = port;
  if (inet_pton(AF_INET, ip, a.bytes.data()) == 1) {
    a.family = 4;
  } else if (inet_pton(AF_INET6, ip, a.bytes.data()) == 1) {
    a.family = 6;
  } else {
    a.family = 0;
  }
  return a;
}

}  // namespace sc::test
