// Which nicks sockchatd accepts beyond the protocol's rules, and when two
// nicks count as the same one: common/nickname (ICU, Unicode TS #39) decides.
#pragma once

#include <string>
#include <string_view>

#include "common/nickname.hpp"

namespace sc::server {

// Empty when `nick` is acceptable, else the reason for BAD_REQUEST.
inline std::string nick_refusal(std::string_view nick) { return nickname::refusal(nick); }
// The key under which nicks are unique: case-folded confusable skeleton.
inline std::string nick_key(std::string_view nick) { return nickname::key(nick); }

}  // namespace sc::server
