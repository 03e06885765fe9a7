// FrameDecoder: one test per error, the TooLarge skip, buffer management
// and the allocation behaviour the receive loops rely on.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/codec.hpp"
#include "helpers.hpp"

// Allocation accounting for this test binary: how many allocations were
// made and the largest single one, so tests can assert that the decoder does
// not allocate per frame nor for a declared (untrusted) length.
namespace {
std::atomic<std::size_t> g_allocs{0};
std::atomic<std::size_t> g_largest{0};

void* counted_alloc(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  std::size_t seen = g_largest.load(std::memory_order_relaxed);
  while (n > seen && !g_largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace sc::test {
namespace {

// Measures allocations made while it is alive.
struct AllocWatch {
  std::size_t allocs0 = g_allocs.load();
  AllocWatch() { g_largest.store(0); }
  std::size_t allocs() const { return g_allocs.load() - allocs0; }
  std::size_t largest() const { return g_largest.load(); }
};

Bytes frame(Kind kind, Type type, std::uint32_t id, std::string_view payload = {}) {
  Bytes out;
  put_frame(out, kind, static_cast<std::uint8_t>(type), 0, id, view(payload));
  return out;
}

Bytes request(std::uint32_t id, std::string_view payload = {}) {
  return frame(Kind::Request, Type::Ping, id, payload);
}

// A header declaring `length` payload bytes, without the payload.
Bytes header_only(Kind kind, std::uint32_t id, std::uint32_t length) {
  Header h;
  h.kind = static_cast<std::uint8_t>(kind);
  h.type = static_cast<std::uint8_t>(Type::Ping);
  h.id = id;
  h.length = length;
  Bytes out;
  put_header(out, h);
  return out;
}

DecodeResult feed_next(FrameDecoder& d, const Bytes& b, Frame& f) {
  d.feed(view(b));
  return d.next(f);
}

// Feeds `prefix` byte by byte: NeedMore until the last byte, then `want`.
void check_error_at_last_byte(Role role, const Bytes& prefix, DecodeResult want) {
  FrameDecoder d(role, 1024);
  Frame f;
  for (std::size_t i = 0; i + 1 < prefix.size(); ++i) {
    d.feed(ByteView(&prefix[i], 1));
    REQUIRE(d.next(f) == DecodeResult::NeedMore);
  }
  d.feed(ByteView(&prefix.back(), 1));
  CHECK(d.next(f) == want);
}

}  // namespace

TEST_CASE("bad magic is reported at byte 0 without waiting for a header") {
  check_error_at_last_byte(Role::Server, {0x54}, DecodeResult::BadMagic);
  check_error_at_last_byte(Role::Client, {0x00}, DecodeResult::BadMagic);
  // An HTTP request is refused at its first byte.
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  CHECK(feed_next(d, bytes_of("GET / HTTP/1.1\r\n\r\n"), f) == DecodeResult::BadMagic);
}

TEST_CASE("bad magic is reported at byte 1") {
  check_error_at_last_byte(Role::Server, {0x53, 0x53}, DecodeResult::BadMagic);
  check_error_at_last_byte(Role::Client, {0x53, 0x00}, DecodeResult::BadMagic);
}

TEST_CASE("bad version is reported at byte 2") {
  check_error_at_last_byte(Role::Server, {0x53, 0x43, 0x02}, DecodeResult::BadVersion);
  check_error_at_last_byte(Role::Client, {0x53, 0x43, 0x00}, DecodeResult::BadVersion);
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  CHECK(feed_next(d, {0x53, 0x43, 0x07}, f) == DecodeResult::BadVersion);
  CHECK(f.header.version == 7);
}

TEST_CASE("a server accepts only REQUEST frames") {
  for (std::uint8_t kind : {0, 2, 3, 4, 255}) {
    INFO("kind ", int(kind));
    check_error_at_last_byte(Role::Server, {0x53, 0x43, 0x01, kind}, DecodeResult::BadKind);
  }
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  CHECK(feed_next(d, request(1), f) == DecodeResult::Frame);
}

TEST_CASE("a client accepts only RESPONSE and INDICATION frames") {
  for (std::uint8_t kind : {0, 1, 4, 255}) {
    INFO("kind ", int(kind));
    check_error_at_last_byte(Role::Client, {0x53, 0x43, 0x01, kind}, DecodeResult::BadKind);
  }
  FrameDecoder d(Role::Client, 1024);
  Frame f;
  CHECK(feed_next(d, frame(Kind::Response, Type::Time, 1), f) == DecodeResult::Frame);
  CHECK(feed_next(d, frame(Kind::Indication, Type::Shutdown, 0, "bye"), f) == DecodeResult::Frame);
}

TEST_CASE("a fatal error is sticky") {
  for (const auto& [bad, want] : {std::pair<Bytes, DecodeResult>{{0x00}, DecodeResult::BadMagic},
                                  {{0x53, 0x43, 0x09}, DecodeResult::BadVersion},
                                  {{0x53, 0x43, 0x01, 0x02}, DecodeResult::BadKind}}) {
    FrameDecoder d(Role::Server, 1024);
    Frame f;
    REQUIRE(feed_next(d, bad, f) == want);
    for (int i = 0; i < 3; ++i) {
      CHECK(feed_next(d, request(7), f) == want);
      CHECK(d.next(f) == want);
    }
  }
}

TEST_CASE("status_for and describe map every result") {
  CHECK(status_for(DecodeResult::BadMagic) == Status::BadFrame);
  CHECK(status_for(DecodeResult::BadKind) == Status::BadFrame);
  CHECK(status_for(DecodeResult::BadVersion) == Status::UnsupportedVersion);
  CHECK(status_for(DecodeResult::TooLarge) == Status::TooLarge);
  CHECK(status_for(DecodeResult::Frame) == Status::Ok);
  CHECK(status_for(DecodeResult::NeedMore) == Status::Ok);
  CHECK(std::string_view(describe(DecodeResult::BadMagic)) == "bad magic");
  for (auto r : {DecodeResult::NeedMore, DecodeResult::Frame, DecodeResult::TooLarge,
                 DecodeResult::BadVersion, DecodeResult::BadKind})
    CHECK(std::strlen(describe(r)) > 0);
}

TEST_CASE("length equal to the maximum is a frame, one above is TooLarge") {
  FrameDecoder d(Role::Server, 64);
  Frame f;
  CHECK(feed_next(d, request(1, std::string(64, 'x')), f) == DecodeResult::Frame);
  CHECK(f.payload.size() == 64);
  CHECK(feed_next(d, request(2, std::string(65, 'x')), f) == DecodeResult::TooLarge);
  CHECK(f.header.id == 2);
  CHECK(f.header.length == 65);
  CHECK(f.payload.empty());
  CHECK(d.next(f) == DecodeResult::NeedMore);
  CHECK(d.pending() == 0);
}

TEST_CASE("TooLarge skips its payload across several feeds, then decodes the next frame") {
  FrameDecoder d(Role::Server, 64);
  Frame f;
  Bytes first = header_only(Kind::Request, 42, 1000);
  first.resize(first.size() + 100, 'a');
  REQUIRE(feed_next(d, first, f) == DecodeResult::TooLarge);
  CHECK(f.header.id == 42);
  CHECK(f.header.length == 1000);
  CHECK(f.payload.empty());
  CHECK(d.pending() == 900);
  CHECK(d.next(f) == DecodeResult::NeedMore);

  CHECK(feed_next(d, Bytes(500, 'b'), f) == DecodeResult::NeedMore);
  CHECK(d.pending() == 400);

  // The rest of the skipped payload and a whole valid frame in one feed:
  // "SC" inside the skipped bytes must not be mistaken for a header.
  Bytes rest(398, 'c');
  rest.push_back(0x53);
  rest.push_back(0x43);
  const Bytes next = request(43, "ok");
  rest.insert(rest.end(), next.begin(), next.end());
  REQUIRE(feed_next(d, rest, f) == DecodeResult::Frame);
  CHECK(f.header.id == 43);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "ok");
  CHECK(d.next(f) == DecodeResult::NeedMore);
  CHECK(d.pending() == 0);
}

TEST_CASE("TooLarge skip also works through write_space and commit") {
  FrameDecoder d(Role::Server, 64);
  Frame f;
  Bytes stream = header_only(Kind::Request, 1, 300);
  stream.resize(stream.size() + 300, 'z');
  const Bytes after = request(2, "after");
  stream.insert(stream.end(), after.begin(), after.end());
  std::vector<DecodeResult> seen;
  for (std::size_t at = 0; at < stream.size(); at += 7) {
    const std::size_t n = std::min<std::size_t>(7, stream.size() - at);
    auto space = d.write_space(16);
    REQUIRE(space.size() >= n);
    std::memcpy(space.data(), stream.data() + at, n);
    d.commit(n);
    for (DecodeResult r; (r = d.next(f)) != DecodeResult::NeedMore;) {
      seen.push_back(r);
      if (r == DecodeResult::Frame) CHECK(f.header.id == 2);
    }
  }
  CHECK(seen == std::vector<DecodeResult>{DecodeResult::TooLarge, DecodeResult::Frame});
  CHECK(d.pending() == 0);
}

TEST_CASE("a declared length of 0xFFFFFFFF is skipped without allocating it") {
  FrameDecoder d(Role::Server, kDefaultMaxPayload);
  Frame f;
  const AllocWatch watch;
  REQUIRE(feed_next(d, header_only(Kind::Request, 9, 0xFFFFFFFFu), f) == DecodeResult::TooLarge);
  CHECK(f.header.length == 0xFFFFFFFFu);
  CHECK(d.pending() == 0xFFFFFFFFu);
  const Bytes chunk(1 << 20, 0x53);
  for (int i = 0; i < 8; ++i) CHECK(feed_next(d, chunk, f) == DecodeResult::NeedMore);
  for (int i = 0; i < 8; ++i) {
    auto space = d.write_space(chunk.size());
    std::memcpy(space.data(), chunk.data(), chunk.size());
    d.commit(chunk.size());
    CHECK(d.next(f) == DecodeResult::NeedMore);
  }
  CHECK(d.pending() == 0xFFFFFFFFu - 16 * chunk.size());
  // Only the 1 MiB receive space itself may have been allocated.
  CHECK(watch.largest() <= 2 * chunk.size());
}

TEST_CASE("pending counts the bytes of a partial frame") {
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  const Bytes whole = request(5, "hello");
  CHECK(d.pending() == 0);
  CHECK(feed_next(d, Bytes(whole.begin(), whole.begin() + 10), f) == DecodeResult::NeedMore);
  CHECK(d.pending() == 10);
  CHECK(feed_next(d, Bytes(whole.begin() + 10, whole.end() - 1), f) == DecodeResult::NeedMore);
  CHECK(d.pending() == whole.size() - 1);
  CHECK(feed_next(d, Bytes(whole.end() - 1, whole.end()), f) == DecodeResult::Frame);
  CHECK(d.next(f) == DecodeResult::NeedMore);
  CHECK(d.pending() == 0);
}

TEST_CASE("write_space and commit: only committed bytes are decoded") {
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  const Bytes whole = request(6, "abc");
  auto space = d.write_space(4096);
  REQUIRE(space.size() >= 4096);
  std::memcpy(space.data(), whole.data(), 10);
  CHECK(d.next(f) == DecodeResult::NeedMore);  // nothing committed yet
  CHECK(d.pending() == 0);
  d.commit(10);
  CHECK(d.pending() == 10);
  CHECK(d.next(f) == DecodeResult::NeedMore);
  // An abandoned write space (the recv failed) is forgotten by feed().
  d.write_space(100);
  d.feed(ByteView(whole.data() + 10, whole.size() - 10));
  REQUIRE(d.next(f) == DecodeResult::Frame);
  CHECK(f.header.id == 6);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "abc");
  CHECK(d.pending() == 0);
}

TEST_CASE("shrink_if_idle keeps pending bytes and frees an idle buffer") {
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  const Bytes whole = request(8, "xyz");
  d.feed(ByteView(whole.data(), 5));
  d.shrink_if_idle();  // mid-frame: must keep the 5 bytes
  CHECK(d.pending() == 5);
  CHECK(feed_next(d, Bytes(whole.begin() + 5, whole.end()), f) == DecodeResult::Frame);
  CHECK(f.header.id == 8);
  CHECK(d.next(f) == DecodeResult::NeedMore);
  d.shrink_if_idle();
  // The buffer is gone, so the next feed has to allocate again.
  const AllocWatch watch;
  CHECK(feed_next(d, whole, f) == DecodeResult::Frame);
  CHECK(watch.allocs() >= 1);
}

TEST_CASE("decoding allocates nothing per frame once the buffer has grown") {
  FrameDecoder d(Role::Server, 1024);
  Frame f;
  Bytes burst;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const Bytes one = request(i, "payload");
    burst.insert(burst.end(), one.begin(), one.end());
  }
  d.feed(view(burst));  // grows the buffer once
  const AllocWatch watch;
  std::uint32_t got = 0;
  while (d.next(f) == DecodeResult::Frame) CHECK(f.header.id == got++);
  CHECK(got == 1000);
  // Steady state: a frame split over two feeds, again and again.
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::size_t cut = 1 + i % (burst.size() / 1000 - 1);
    d.feed(ByteView(burst.data(), cut));
    d.feed(ByteView(burst.data() + cut, burst.size() / 1000 - cut));
    REQUIRE(d.next(f) == DecodeResult::Frame);
    REQUIRE(d.next(f) == DecodeResult::NeedMore);
  }
  CHECK(watch.allocs() == 0);
}

TEST_CASE("a long stream in uneven pieces decodes every frame in order") {
  FrameDecoder d(Role::Client, kMaxServerPayload);
  Frame f;
  Bytes stream;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const Bytes one = frame(Kind::Response, Type::Ping, i, std::string(i % 300, char('a' + i % 26)));
    stream.insert(stream.end(), one.begin(), one.end());
  }
  std::uint32_t want = 0;
  std::size_t at = 0;
  for (std::size_t step = 1; at < stream.size(); step = step * 7 % 1021 + 1) {
    const std::size_t n = std::min(step, stream.size() - at);
    d.feed(ByteView(stream.data() + at, n));
    at += n;
    for (DecodeResult r; (r = d.next(f)) == DecodeResult::Frame; ++want) {
      REQUIRE(f.header.id == want);
      REQUIRE(f.payload.size() == want % 300);
      if (!f.payload.empty()) CHECK(f.payload[0] == 'a' + want % 26);
    }
  }
  CHECK(want == 3000);
  CHECK(d.pending() == 0);
}

}  // namespace sc::test
