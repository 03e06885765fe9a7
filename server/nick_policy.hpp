// Which nicks sockchatd accepts beyond the protocol's rules, and when two
// nicks count as the same one.
#pragma once

#include <string>
#include <string_view>

namespace sc::server {

// Empty when `nick` is acceptable, else the reason for BAD_REQUEST.
inline std::string nick_refusal(std::string_view) { return {}; }
// The key under which nicks are unique.
inline std::string nick_key(std::string_view nick) { return std::string(nick); }

}  // namespace sc::server
