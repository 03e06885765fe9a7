// connect mode: connections that only hold on (the loop answers heartbeats).
// Any frame besides those answers is unexpected.
#include "bench/modes.hpp"

namespace sc::bench {
namespace {

class IdleLoop final : public Loop {
 public:
  IdleLoop(const Target& t, Control& ctl, int n) : Loop(t, ctl, n) {}

 private:
  void on_start(Clock::time_point) override {}
  void on_frame(std::size_t, const Frame&, Clock::time_point) override { ++errors_.wrong; }
  bool drained() const override { return true; }
};

}  // namespace

std::unique_ptr<Loop> make_idle_loop(const Target& t, Control& ctl, int n) {
  return std::make_unique<IdleLoop>(t, ctl, n);
}

}  // namespace sc::bench
