// The fuzz targets: one per decoder.  Each takes one input and returns 0;
// a broken invariant traps (FUZZ_REQUIRE).  fuzz/entry.cpp turns one of them
// into a libFuzzer binary; the regression replay test links them all.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sc::fuzz {

using Target = int (*)(const std::uint8_t* data, std::size_t size);

// FrameDecoder, both roles; the first byte picks the role, the maximum
// payload and how the rest is fed (see frame_target.cpp).
int frame(const std::uint8_t* data, std::size_t size);

// Payload decoders: the whole input is one payload.
int hello(const std::uint8_t* data, std::size_t size);
int time_reply(const std::uint8_t* data, std::size_t size);
int list_reply(const std::uint8_t* data, std::size_t size);
int send_request(const std::uint8_t* data, std::size_t size);
int message(const std::uint8_t* data, std::size_t size);
int presence(const std::uint8_t* data, std::size_t size);
int not_delivered(const std::uint8_t* data, std::size_t size);
int u32(const std::uint8_t* data, std::size_t size);
int u8(const std::uint8_t* data, std::size_t size);
int text(const std::uint8_t* data, std::size_t size);
int nick(const std::uint8_t* data, std::size_t size);
int auth(const std::uint8_t* data, std::size_t size);        // AUTH request
int auth_reply(const std::uint8_t* data, std::size_t size);  // AUTH OK response

// The server's TLS read path after an in-memory handshake (tls_target.cpp).
int tls_records(const std::uint8_t* data, std::size_t size);

struct NamedTarget {
  const char* name;  // also the corpus folder: fuzz/corpus/<name>
  Target run;
};

// Every target, for the replay test.
inline constexpr NamedTarget kTargets[] = {
    {"frame", frame},
    {"hello", hello},
    {"time_reply", time_reply},
    {"list_reply", list_reply},
    {"send_request", send_request},
    {"message", message},
    {"presence", presence},
    {"not_delivered", not_delivered},
    {"u32", u32},
    {"u8", u8},
    {"text", text},
    {"nick", nick},
    {"auth", auth},
    {"auth_reply", auth_reply},
    {"tls_records", tls_records},
};

}  // namespace sc::fuzz
