// time mode: every client keeps `depth` TIME requests in flight.  Responses
// to TIME come in request order, so each client expects exactly the id
// after the last one answered; a sent-at ring of `depth` slots per client
// gives each response its latency.
#include <vector>

#include "bench/modes.hpp"

namespace sc::bench {
namespace {

class TimeLoop final : public Loop {
 public:
  TimeLoop(const Target& t, Control& ctl, int clients, int depth)
      : Loop(t, ctl, clients),
        depth_(static_cast<std::uint32_t>(depth)),
        state_(static_cast<std::size_t>(clients)),
        sent_at_(static_cast<std::size_t>(clients) * static_cast<std::size_t>(depth)) {}

 private:
  struct Client {
    std::uint32_t next_id = 1;    // id of the next request to send
    std::uint32_t expect_id = 1;  // id of the next response due
  };

  void on_start(Clock::time_point now) override {
    for (std::size_t i = 0; i < size(); ++i) {
      for (std::uint32_t k = 0; k < depth_; ++k) issue(i, now);
      flush(i);
    }
  }

  void on_frame(std::size_t i, const Frame& f, Clock::time_point now) override {
    Client& s = state_[i];
    const Header& h = f.header;
    if (h.id < s.expect_id) {
      ++errors_.duplicated;
      return;
    }
    if (h.id >= s.next_id) {
      ++errors_.wrong;  // an id never sent
      return;
    }
    // A later id than due: the ones in between were skipped.
    errors_.lost += h.id - s.expect_id;
    outstanding_ -= h.id - s.expect_id + 1;
    s.expect_id = h.id + 1;
    if (valid(f)) {
      latency_.record(static_cast<std::uint64_t>((now - slot(i, h.id)).count()));
      count_completed();
    } else {
      ++errors_.wrong;
    }
    if (running()) issue(i, Clock::now());
  }

  bool drained() const override { return outstanding_ == 0; }
  void on_finish() override { errors_.lost += outstanding_; }

  static bool valid(const Frame& f) {
    TimeReply reply;
    return f.header.kind == static_cast<std::uint8_t>(Kind::Response) &&
           f.header.type == static_cast<std::uint8_t>(Type::Time) && f.header.status == 0 &&
           decode_time_reply(f.payload, reply) == Status::Ok;
  }

  Clock::time_point& slot(std::size_t i, std::uint32_t id) {
    return sent_at_[i * depth_ + id % depth_];
  }

  void issue(std::size_t i, Clock::time_point now) {
    Client& s = state_[i];
    slot(i, s.next_id) = now;
    const std::size_t at =
        begin_frame(conn(i).out, Kind::Request, static_cast<std::uint8_t>(Type::Time), 0, s.next_id);
    end_frame(conn(i).out, at);
    ++s.next_id;
    ++outstanding_;
  }

  const std::uint32_t depth_;
  std::vector<Client> state_;
  std::vector<Clock::time_point> sent_at_;
  std::uint64_t outstanding_ = 0;
};

}  // namespace

std::unique_ptr<Loop> make_time_loop(const Target& t, Control& ctl, const Options& o, int clients) {
  return std::make_unique<TimeLoop>(t, ctl, clients, o.depth);
}

}  // namespace sc::bench
