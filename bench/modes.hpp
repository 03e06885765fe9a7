// The three load patterns, each a Loop that knows what to ask and how to
// check every answer.
#pragma once

#include <memory>

#include "bench/loop.hpp"
#include "bench/options.hpp"

namespace sc::bench {

// `clients` connections, each keeping o.depth TIME requests in flight.
std::unique_ptr<Loop> make_time_loop(const Target& t, Control& ctl, const Options& o, int clients);
// `pairs` sender/receiver pairs: o.depth SENDs of o.bytes in flight per sender.
std::unique_ptr<Loop> make_send_loop(const Target& t, Control& ctl, const Options& o, int pairs);
// `n` idle connections that only answer heartbeats.
std::unique_ptr<Loop> make_idle_loop(const Target& t, Control& ctl, int n);

}  // namespace sc::bench
