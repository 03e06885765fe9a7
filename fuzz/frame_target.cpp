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
#include <algorithm>
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
// Reference: the stream cut into its items by reading it whole.

// One item of the stream: a frame, a frame above the maximum (TooLarge),
// the header prefix that holds a fatal error, or the incomplete header at
// the end (NeedMore; empty when the stream ends between frames).
struct Segment {
  DecodeResult result;
  Header header;
  std::uint64_t start;  // offset of its first byte
  std::uint64_t end;    // offset past its last byte; may lie beyond the stream
  std::uint64_t ready;  // how many stream bytes make the decoder report it
};

constexpr std::uint64_t kNever = ~std::uint64_t{0};

bool is_fatal(DecodeResult r) {
  return r == DecodeResult::BadMagic || r == DecodeResult::BadVersion ||
         r == DecodeResult::BadKind;
}

// The first wrong byte among the first n (<= 4) bytes of a header.
struct Fault {
  DecodeResult result = DecodeResult::NeedMore;
  std::size_t at = 0;
};

Fault fault_in(Role role, const std::uint8_t* p, std::size_t n) {
  static constexpr DecodeResult kErrorAt[4] = {DecodeResult::BadMagic, DecodeResult::BadMagic,
                                               DecodeResult::BadVersion, DecodeResult::BadKind};
  for (std::size_t i = 0; i < n; ++i) {
    bool ok = false;
    switch (i) {
      case 0: ok = p[i] == 'S'; break;
      case 1: ok = p[i] == 'C'; break;
      case 2: ok = p[i] == 1; break;
      default: ok = role == Role::Server ? p[i] == 1 : p[i] == 2 || p[i] == 3; break;
    }
    if (!ok) return {kErrorAt[i], i};
  }
  return {};
}

std::uint32_t be32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
  return v;
}

Header header_at(const std::uint8_t* p) {
  Header h;
  h.version = p[2];
  h.kind = p[3];
  h.type = p[4];
  h.status = p[5];
  h.reserved = static_cast<std::uint16_t>(be32(p + 4) & 0xFFFF);
  h.id = be32(p + 8);
  h.length = be32(p + 12);
  return h;
}

std::vector<Segment> segment_stream(Role role, std::uint32_t max, ByteView in) {
  std::vector<Segment> segs;
  for (std::uint64_t pos = 0;;) {
    const std::size_t left = in.size() - pos;
    const Fault f = fault_in(role, in.data() + pos, left < 4 ? left : 4);
    if (f.result != DecodeResult::NeedMore) {
      segs.push_back({f.result, {}, pos, pos + kHeaderSize, pos + f.at + 1});
      return segs;
    }
    if (left < kHeaderSize) {
      segs.push_back({DecodeResult::NeedMore, {}, pos, pos + kHeaderSize, kNever});
      return segs;
    }
    const Header h = header_at(in.data() + pos);
    const std::uint64_t end = pos + kHeaderSize + h.length;
    if (h.length > max) {
      segs.push_back({DecodeResult::TooLarge, h, pos, end, pos + kHeaderSize});
    } else {
      segs.push_back({DecodeResult::Frame, h, pos, end, end});
    }
    if (end > in.size()) return segs;
    pos = end;
  }
}

// What the decoder must have reported, and hold pending, once it has been
// given the first k bytes of the stream.
class Reference {
 public:
  Reference(Role role, std::uint32_t max, ByteView in) : segs_(segment_stream(role, max, in)) {}

  const Segment& segment(std::size_t i) const { return segs_[i]; }

  std::size_t events_by(std::uint64_t k) const {
    const auto it = std::partition_point(segs_.begin(), segs_.end(), [k](const Segment& s) {
      return s.result != DecodeResult::NeedMore && s.ready <= k;
    });
    return static_cast<std::size_t>(it - segs_.begin());
  }

  // Buffered bytes of the item k falls in, or what is left to skip of a
  // TooLarge payload.
  std::uint64_t pending_at(std::uint64_t k) const {
    const auto it = std::partition_point(segs_.begin(), segs_.end(),
                                         [k](const Segment& s) { return s.start <= k; });
    const Segment& s = *(it - 1);  // the first segment starts at 0
    if (k >= s.end) return 0;
    const std::uint64_t off = k - s.start;
    if (off < kHeaderSize || s.result != DecodeResult::TooLarge) return off;
    return s.end - k;
  }

 private:
  std::vector<Segment> segs_;
};

bool same_header(const Header& a, const Header& b) {
  return a.version == b.version && a.kind == b.kind && a.type == b.type &&
         a.status == b.status && a.reserved == b.reserved && a.id == b.id &&
         a.length == b.length;
}

// ---------------------------------------------------------------------------
// The decoder under test, fed one cut at a time.

class Run {
 public:
  Run(const Plan& plan, ByteView in, std::uint8_t control)
      : plan_(plan),
        in_(in),
        want_(plan.role, plan.max_payload, in),
        rng_(control * 2654435761u ^ static_cast<std::uint32_t>(in.size())),
        dec_(plan.role, plan.max_payload) {}

  // Feeds the stream cut by cut; after each cut the decoder must have
  // reported exactly the items complete so far (errors as soon as the wrong
  // byte arrived) and hold exactly the rest.
  void feed_all() {
    for (std::size_t n = 0; fed_ < in_.size(); fed_ += n) {
      n = cut_size(in_.size() - fed_);
      deliver(in_.subspan(fed_, n));
      drain();
      check_progress(fed_ + n);
    }
    drain();  // also runs for an empty stream
    check_progress(in_.size());
  }

 private:
  void check_progress(std::uint64_t k) {
    FUZZ_REQUIRE(seen_ == want_.events_by(k));
    if (!fatal_) FUZZ_REQUIRE(dec_.pending() == want_.pending_at(k));
  }

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
        FUZZ_REQUIRE(r == want_.segment(seen_ - 1).result);  // fatal errors stick
        return;
      }
      if (r == DecodeResult::NeedMore) break;
      FUZZ_REQUIRE(seen_ < want_.events_by(in_.size()));
      check_event(r, f, want_.segment(seen_++));
      if (is_fatal(r)) {
        fatal_ = true;
        return;
      }
    }
    if (plan_.shrink) dec_.shrink_if_idle();
  }

  void check_event(DecodeResult r, const Frame& f, const Segment& want) {
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
                 std::memcmp(f.payload.data(), in_.data() + want.start + kHeaderSize,
                             f.payload.size()) == 0);
  }

  const Plan plan_;
  const ByteView in_;
  const Reference want_;
  Rng rng_;
  FrameDecoder dec_;
  std::size_t fed_ = 0;
  std::size_t seen_ = 0;  // results checked so far
  std::size_t cuts_ = 0;
  bool fatal_ = false;
};

}  // namespace

int frame(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Run run(plan_from(data[0]), ByteView(data + 1, size - 1), data[0]);
  run.feed_all();
  return 0;
}

}  // namespace sc::fuzz
