// Runs one mode: starts the loop threads, steers them through their phases,
// samples the server, and gathers what they measured.
#pragma once

#include <memory>
#include <string>

#include "bench/histogram.hpp"
#include "bench/loop.hpp"
#include "bench/options.hpp"
#include "bench/proc_stats.hpp"

namespace sc::bench {

// The first connection, made in main: it proves the server is there, gives
// the address for every other connection, and (connect mode) asks for LIST.
struct Probe {
  int fd = -1;
  FrameDecoder decoder{Role::Client, kMaxServerPayload};
  std::unique_ptr<tls::TlsSession> tls;  // --tls
  Hello hello;
  std::uint32_t next_id = 1;
};

struct Results {
  std::string setup_error;   // non-empty: the run did not happen
  int connections = 0;       // opened by the loops
  double connect_s = 0;      // until every one had its HELLO
  double run_s = 0;          // measured window
  std::uint64_t completed = 0;        // operations in the window
  std::uint64_t total_completed = 0;  // including the drain
  Histogram latency;
  Histogram list_latency;    // connect mode
  std::uint64_t list_errors = 0;
  Errors errors;
  // Server samples (--server-pid): time/send: before the run and after the
  // drain; connect: before connecting, with all connected, after release.
  bool server = false;
  ProcSample baseline, loaded, after;
  bool released = false;     // connect: threads and fds back to baseline
  double released_s = 0;
  std::uint64_t error_total() const { return errors.total() + list_errors; }
};

Results run_bench(const Options& o, const Target& target, Probe& probe);

// Blocking read of one frame on the probe, at most timeout_ms.
bool read_probe_frame(Probe& p, Frame& f, int timeout_ms, std::string& err);
// Blocking send of frames on the probe (encrypted with --tls).
bool send_probe(Probe& p, const Bytes& frames, int timeout_ms);

}  // namespace sc::bench
