// FrameDecoder target, after hiredis's reader fuzzer: the first input byte
// chooses how the rest reaches the decoder, and the results must not depend
// on that choice.  A plain whole-buffer parser written here from the
// protocol text is the reference: however the stream is cut, the decoder
// must report the same frames (same headers, same payload bytes), the same
// TooLarge skips and the same fatal error, and leave the same bytes pending.
//
// Control byte:  bit 7     role (0 server, 1 client)
//                bits 4-6  max payload, from kMaxPayloads
//                bit 3     call shrink_if_idle() whenever it may free memory
//                bits 0-2  feeding: 0 whole, 1 byte by byte, 2 split at one
//                          pseudo-random point, 3 small chunks; 4-7 the same
//                          through write_space()/commit() (7 mixes in feed()).
#include <cstring>
#include <vector>

#include "common/codec.hpp"
#include "invariants.hpp"
#include "targets.hpp"

namespace sc::fuzz {

namespace {

constexpr std::uint32_t kMaxPayloads[8] = {0, 1, 15, 64, 4096, 65536, kMaxServerPayload,
                                           0xFFFFFFFFu};

enum class Cut : std::uint8_t { Whole, Bytes, Split, Chunks };

struct Plan {
  Role role;
  std::uint32_t max_payload;
  bool shrink;
  Cut cut;
  bool zero_copy;
  bool mixed;  // zero-copy and feed() alternate pseudo-randomly
};

Plan plan_from(std::uint8_t control) {
  return {(control & 0x80) ? Role::Client : Role::Server,
          kMaxPayloads[(control >> 4) & 7],
          (control & 0x08) != 0,
          static_cast<Cut>(control & 3),
          (control & 4) != 0,
          (control & 7) == 7};
}

// Deterministic pseudo-random numbers (xorshift32), so that a saved input
// replays the same cuts.
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : s_(seed | 1) {}
  std::uint32_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 17;
    s_ ^= s_ << 5;
    return s_;
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : next() % n; }

 private:
  std::uint32_t s_;
};

// ---------------------------------------------------------------------------
// Reference: what a decoder given the whole stream at once must report.

struct Event {
  DecodeResult result;
  Header header;
  std::size_t payload_at = 0;  // offset of a Frame's payload in the stream
};

struct Expected {
  std::vector<Event> events;  // ends at the first fatal error
  std::size_t pending = 0;    // pending() after the last event, when not fatal
};

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// The fatal error, if any, shown by the first n (<= 4) bytes of a header.
DecodeResult fatal_in(Role role, const std::uint8_t* p, std::size_t n) {
  if ((n > 0 && p[0] != 'S') || (n > 1 && p[1] != 'C')) return DecodeResult::BadMagic;
  if (n > 2 && p[2] != 1) return DecodeResult::BadVersion;
  if (n < 4) return DecodeResult::NeedMore;
  const bool kind_ok = role == Role::Server ? p[3] == 1 : p[3] == 2 || p[3] == 3;
  return kind_ok ? DecodeResult::NeedMore : DecodeResult::BadKind;
}

Header header_at(const std::uint8_t* p) {
  Header h;
  h.version = p[2];
  h.kind = p[3];
  h.type = p[4];
  h.status = p[5];
  h.reserved = static_cast<std::uint16_t>(p[6] << 8 | p[7]);
  h.id = be32(p + 8);
  h.length = be32(p + 12);
  return h;
}

Expected parse_whole(Role role, std::uint32_t max, ByteView in) {
  Expected x;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t left = in.size() - pos;
    const DecodeResult bad = fatal_in(role, in.data() + pos, left < 4 ? left : 4);
    if (bad != DecodeResult::NeedMore) {
      x.events.push_back({bad, {}, 0});
      return x;
    }
    if (left < kHeaderSize) {
      x.pending = left;
      return x;
    }
    const Header h = header_at(in.data() + pos);
    pos += kHeaderSize;
    const std::size_t body = in.size() - pos;
    if (h.length > max) {
      x.events.push_back({DecodeResult::TooLarge, h, 0});
      if (body < h.length) {
        x.pending = h.length - body;  // still to be skipped
        return x;
      }
    } else if (body < h.length) {
      x.pending = kHeaderSize + body;
      return x;
    } else {
      x.events.push_back({DecodeResult::Frame, h, pos});
    }
    pos += h.length;
  }
}

bool same_header(const Header& a, const Header& b) {
  return a.version == b.version && a.kind == b.kind && a.type == b.type &&
         a.status == b.status && a.reserved == b.reserved && a.id == b.id &&
         a.length == b.length;
}

bool is_fatal(DecodeResult r) {
  return r == DecodeResult::BadMagic || r == DecodeResult::BadVersion ||
         r == DecodeResult::BadKind;
}

// ---------------------------------------------------------------------------
// The decoder under test, fed one cut at a time.

class Run {
 public:
  Run(const Plan& plan, ByteView in, std::uint8_t control)
      : plan_(plan),
        in_(in),
        want_(parse_whole(plan.role, plan.max_payload, in)),
        rng_(control * 2654435761u ^ static_cast<std::uint32_t>(in.size())),
        dec_(plan.role, plan.max_payload) {}

  void feed_all() {
    for (std::size_t at = 0, n = 0; at < in_.size(); at += n) {
      n = cut_size(in_.size() - at);
      deliver(in_.subspan(at, n));
      drain();
    }
    drain();  // also runs for an empty stream
  }

  void check_end() {
    FUZZ_REQUIRE(seen_ == want_.events.size());
    if (!fatal_) FUZZ_REQUIRE(dec_.pending() == want_.pending);
  }

 private:
  std::size_t cut_size(std::size_t left) {
    switch (plan_.cut) {
      case Cut::Whole: return left;
      case Cut::Bytes: return 1;
      case Cut::Split:
        if (cuts_++ == 0) return rng_.below(left + 1);  // may be 0: an empty delivery
        return left;
      case Cut::Chunks: return 1 + rng_.below(left < 16 ? left : 16);
    }
    return left;
  }

  void deliver(ByteView bytes) {
    const bool zero_copy = plan_.mixed ? (rng_.next() & 1) != 0 : plan_.zero_copy;
    if (!zero_copy) {
      dec_.feed(bytes);
      return;
    }
    // Ask for more room than arrives, as recv() usually fills less.
    const std::size_t room = bytes.size() + rng_.below(64);
    const std::span<std::uint8_t> space = dec_.write_space(room);
    FUZZ_REQUIRE(space.size() >= room);
    if (plan_.shrink) dec_.shrink_if_idle();  // must not free handed-out room
    if (!bytes.empty()) std::memcpy(space.data(), bytes.data(), bytes.size());
    dec_.commit(bytes.size());
  }

  // next() until the decoder needs more bytes, each result checked against
  // the reference in order.
  void drain() {
    for (;;) {
      Frame f;
      const DecodeResult r = dec_.next(f);
      if (fatal_) {
        FUZZ_REQUIRE(r == want_.events.back().result);  // fatal errors stick
        return;
      }
      if (r == DecodeResult::NeedMore) break;
      FUZZ_REQUIRE(seen_ < want_.events.size());
      check_event(r, f, want_.events[seen_++]);
      if (is_fatal(r)) {
        fatal_ = true;
        return;
      }
    }
    if (plan_.shrink) dec_.shrink_if_idle();
  }

  void check_event(DecodeResult r, const Frame& f, const Event& want) {
    FUZZ_REQUIRE(r == want.result);
    if (is_fatal(r)) {
      FUZZ_REQUIRE(f.payload.empty());
      return;
    }
    FUZZ_REQUIRE(same_header(f.header, want.header));
    if (r == DecodeResult::TooLarge) {
      FUZZ_REQUIRE(f.header.length > plan_.max_payload && f.payload.empty());
      return;
    }
    FUZZ_REQUIRE(f.payload.size() == f.header.length);
    FUZZ_REQUIRE(f.header.length <= plan_.max_payload);
    FUZZ_REQUIRE(f.payload.empty() ||
                 std::memcmp(f.payload.data(), in_.data() + want.payload_at,
                             f.payload.size()) == 0);
  }

  const Plan plan_;
  const ByteView in_;
  const Expected want_;
  Rng rng_;
  FrameDecoder dec_;
  std::size_t seen_ = 0;  // events checked so far
  std::size_t cuts_ = 0;
  bool fatal_ = false;
};

}  // namespace

int frame(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Run run(plan_from(data[0]), ByteView(data + 1, size - 1), data[0]);
  run.feed_all();
  run.check_end();
  return 0;
}

}  // namespace sc::fuzz
