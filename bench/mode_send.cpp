// send mode: pairs of connections in one loop; the sender SENDs to its
// receiver, which ACKs every MESSAGE.  Each message's text carries its
// sequence number and a checksum, so the receiver checks that every message
// arrives exactly once, in order and intact; the sender checks that each
// SEND's OK names the message id the receiver saw.  Connection 2k is pair
// k's sender, 2k + 1 its receiver.  With several nodes pair k's sender is on
// node k mod N and its receiver on the next node (cross-node SENDs, which
// travel through the broker), or on the same one with --same-node.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bench/modes.hpp"

namespace sc::bench {
namespace {

// Text layout: 8 hex digits of sequence number, 8 of checksum, then filler
// that depends on the sequence number.  The checksum (FNV-1a) covers all
// bytes but its own.
constexpr std::size_t kSeqEnd = 8;
constexpr std::size_t kSumEnd = 16;

std::uint32_t checksum(std::string_view text) {
  std::uint32_t h = 2166136261u;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (k >= kSeqEnd && k < kSumEnd) continue;
    h = (h ^ static_cast<std::uint8_t>(text[k])) * 16777619u;
  }
  return h;
}

void put_hex(std::string& s, std::size_t at, std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  s.replace(at, 8, buf, 8);
}

bool parse_hex(std::string_view s, std::uint32_t& v) {
  v = 0;
  for (const char ch : s) {
    int d;
    if (ch >= '0' && ch <= '9') d = ch - '0';
    else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
    else return false;
    v = v << 4 | static_cast<std::uint32_t>(d);
  }
  return true;
}

void make_text(std::string& s, std::uint32_t seq, std::size_t bytes) {
  s.assign(bytes, '0');
  for (std::size_t k = kSumEnd; k < bytes; ++k) s[k] = static_cast<char>('a' + (seq + k) % 26);
  put_hex(s, 0, seq);
  put_hex(s, kSeqEnd, checksum(s));
}

// The sequence number of an intact text of `bytes` bytes, or 0.
std::uint32_t check_text(std::string_view s, std::size_t bytes) {
  std::uint32_t seq = 0, sum = 0;
  if (s.size() != bytes || !parse_hex(s.substr(0, kSeqEnd), seq) ||
      !parse_hex(s.substr(kSeqEnd, kSumEnd - kSeqEnd), sum) || sum != checksum(s)) {
    return 0;
  }
  std::string expected;
  make_text(expected, seq, bytes);
  return expected == s ? seq : 0;
}

bool is(const Header& h, Kind kind, Type type) {
  return h.kind == static_cast<std::uint8_t>(kind) && h.type == static_cast<std::uint8_t>(type);
}

class SendLoop final : public Loop {
 public:
  SendLoop(const Target& t, Control& ctl, int pairs, int depth, int bytes, bool same_node)
      : Loop(t, ctl, 2 * pairs),
        same_node_(same_node),
        depth_(static_cast<std::size_t>(depth)),
        bytes_(static_cast<std::size_t>(bytes)),
        pairs_(static_cast<std::size_t>(pairs)) {}

 private:
  struct Inflight {
    std::uint32_t seq;
    Clock::time_point sent_at;
    std::uint32_t message_id;  // as the receiver saw it; 0 until then
  };
  struct Pair {
    std::uint32_t next_seq = 1;  // also the SEND request id
    std::vector<Inflight> inflight;
    std::uint32_t expect_seq = 1;
    std::uint32_t next_ack_id = 1;
    std::uint32_t expect_ack_id = 1;
  };

  void on_start(Clock::time_point now) override {
    for (std::size_t k = 0; k < pairs_.size(); ++k) {
      for (std::size_t d = 0; d < depth_; ++d) issue(k, now);
      flush(2 * k);
    }
  }

  void on_frame(std::size_t i, const Frame& f, Clock::time_point now) override {
    if (i % 2 == 0) on_sender_frame(i / 2, f, now);
    else on_receiver_frame(i / 2, f);
  }

  bool drained() const override { return owed_ == 0; }
  void on_finish() override { errors_.lost += owed_; }
  std::size_t node_of(std::size_t i) const override {
    const std::size_t receiver = i % 2 == 1 && !same_node_ ? 1 : 0;
    return (i / 2 + receiver) % nodes();
  }

  void issue(std::size_t k, Clock::time_point now) {
    Pair& p = pairs_[k];
    Bytes& out = conn(2 * k).out;
    make_text(text_, p.next_seq, bytes_);
    const std::size_t at =
        begin_frame(out, Kind::Request, static_cast<std::uint8_t>(Type::Send), 0, p.next_seq);
    put_u32(out, conn(2 * k + 1).hello.client_id);
    put_text(out, text_);
    end_frame(out, at);
    p.inflight.push_back({p.next_seq, now, 0});
    ++p.next_seq;
    ++owed_;
  }

  std::vector<Inflight>::iterator find(Pair& p, std::uint32_t seq) {
    return std::find_if(p.inflight.begin(), p.inflight.end(),
                        [seq](const Inflight& x) { return x.seq == seq; });
  }

  // The OK to a SEND: settled, with the message id the receiver acknowledged.
  void on_sender_frame(std::size_t k, const Frame& f, Clock::time_point now) {
    Pair& p = pairs_[k];
    const auto it = find(p, f.header.id);
    if (!is(f.header, Kind::Response, Type::Send) || it == p.inflight.end()) {
      if (f.header.id < p.next_seq) ++errors_.duplicated;
      else ++errors_.wrong;
      return;
    }
    std::uint32_t message_id = 0;
    if (f.header.status != 0 || decode_u32(f.payload, message_id) != Status::Ok ||
        it->message_id == 0 || message_id != it->message_id) {
      ++errors_.wrong;
    } else {
      latency_.record(static_cast<std::uint64_t>((now - it->sent_at).count()));
    }
    *it = p.inflight.back();
    p.inflight.pop_back();
    --owed_;
    if (running()) issue(k, Clock::now());
  }

  void on_receiver_frame(std::size_t k, const Frame& f) {
    if (is(f.header, Kind::Indication, Type::Message)) return on_message(k, f);
    Pair& p = pairs_[k];
    if (!is(f.header, Kind::Response, Type::Ack) || f.header.id > p.expect_ack_id) {
      ++errors_.wrong;
      return;
    }
    if (f.header.id < p.expect_ack_id) {
      ++errors_.duplicated;
      return;
    }
    ++p.expect_ack_id;
    --owed_;
    if (f.header.status != 0 || !f.payload.empty()) ++errors_.wrong;
  }

  // Exactly once, in order, intact, from our sender; then ACK it.
  void on_message(std::size_t k, const Frame& f) {
    Pair& p = pairs_[k];
    Message m;
    std::uint32_t seq = 0;
    if (decode_message(f.payload, m) != Status::Ok ||
        m.sender != conn(2 * k).hello.client_id || (seq = check_text(m.text, bytes_)) == 0) {
      ++errors_.wrong;
      return;
    }
    if (seq < p.expect_seq) {
      ++errors_.duplicated;
      return;
    }
    errors_.lost += seq - p.expect_seq;  // skipped ones never come: in order
    p.expect_seq = seq + 1;
    if (const auto it = find(p, seq); it != p.inflight.end()) it->message_id = f.header.id;
    Bytes& out = conn(2 * k + 1).out;
    const std::size_t at =
        begin_frame(out, Kind::Request, static_cast<std::uint8_t>(Type::Ack), 0, p.next_ack_id++);
    put_u32(out, f.header.id);
    end_frame(out, at);
    ++owed_;
    count_completed();
  }

  const bool same_node_;
  const std::size_t depth_;
  const std::size_t bytes_;
  std::vector<Pair> pairs_;
  std::string text_;
  std::uint64_t owed_ = 0;  // SENDs not settled plus ACKs not answered
};

}  // namespace

std::unique_ptr<Loop> make_send_loop(const Target& t, Control& ctl, const Options& o, int pairs) {
  return std::make_unique<SendLoop>(t, ctl, pairs, o.depth, o.bytes, o.same_node);
}

}  // namespace sc::bench
