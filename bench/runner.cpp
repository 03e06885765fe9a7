#include "bench/runner.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "bench/modes.hpp"
#include "bench/tls.hpp"
#include "common/net.hpp"

namespace sc::bench {
namespace {

using Seconds = std::chrono::duration<double>;

constexpr auto kWaitStep = std::chrono::milliseconds(5);
constexpr auto kDrainWait = std::chrono::seconds(15);
constexpr auto kReleaseWait = std::chrono::seconds(20);
constexpr auto kConvergeWait = std::chrono::seconds(10);

// The loops and their threads.  Every thread is joined before this goes.
struct Fleet {
  Control ctl;
  std::vector<std::unique_ptr<Loop>> loops;
  std::vector<std::thread> threads;

  ~Fleet() { stop(); }
  void set_phase(int p) { ctl.phase.store(p, std::memory_order_release); }
  void stop() {
    set_phase(kClosing);
    for (std::thread& t : threads) t.join();
    threads.clear();
  }
  std::uint64_t progress() const {
    std::uint64_t n = 0;
    for (const auto& l : loops) n += l->progress();
    return n;
  }
};

int units_of(const Options& o) {
  switch (o.mode) {
    case Mode::Time: return o.clients;
    case Mode::Send: return o.clients;
    case Mode::Connect: return o.connections;
  }
  return 0;
}

std::unique_ptr<Loop> make_loop(const Options& o, const Target& t, Control& ctl, int share) {
  switch (o.mode) {
    case Mode::Time: return make_time_loop(t, ctl, o, share);
    case Mode::Send: return make_send_loop(t, ctl, o, share);
    case Mode::Connect: return make_idle_loop(t, ctl, share);
  }
  return nullptr;
}

void start(Fleet& f, const Options& o, const Target& t) {
  const int units = units_of(o);
  const int n = std::min(o.threads, units);
  for (int k = 0; k < n; ++k) {
    const int share = units / n + (k < units % n ? 1 : 0);
    f.loops.push_back(make_loop(o, t, f.ctl, share));
  }
  for (auto& l : f.loops) f.threads.emplace_back([loop = l.get()] { loop->run(); });
}

// Waits until `counter` reaches the number of loops, at most `bound`.
bool wait_for(const Fleet& f, const std::atomic<int>& counter, Clock::duration bound) {
  const auto deadline = Clock::now() + bound;
  while (counter.load() + f.ctl.failed.load() < static_cast<int>(f.loops.size())) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(kWaitStep);
  }
  return true;
}

ProcSample sample(const Options& o) {
  return o.server_pid != 0 ? sample_process(o.server_pid) : ProcSample{};
}

// Sleeps through the measured window, with a progress line on stderr for
// runs long enough to wonder about.
void hold(const Options& o, const Fleet& f, const char* unit) {
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(Seconds(o.seconds));
  const bool show = o.seconds > 3;
  const char eol = isatty(STDERR_FILENO) ? '\r' : '\n';
  auto last = t0;
  std::uint64_t last_n = f.progress();
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::min<Clock::duration>(end - Clock::now(), std::chrono::seconds(1)));
    if (!show) continue;
    const auto now = Clock::now();
    const std::uint64_t n = f.progress();
    std::fprintf(stderr, "%s: %.0f/%.0f s, %.0f %s/s%c", mode_name(o.mode),
                 Seconds(now - t0).count(), o.seconds,
                 static_cast<double>(n - last_n) / Seconds(now - last).count(), unit, eol);
    last = now;
    last_n = n;
  }
  if (show && eol == '\r') std::fputc('\n', stderr);
}

void gather(Fleet& f, Results& r) {
  for (const auto& l : f.loops) {
    r.errors.merge(l->errors());
    r.latency.merge(l->latency());
    r.completed += l->completed_in_window();
    r.total_completed += l->progress();
    if (r.setup_error.empty()) r.setup_error = l->setup_error();
  }
}

// One LIST on the probe: false if it failed; else how long it took and
// whether every connection of ours is in it.
bool ask_list(Probe& p, const std::vector<std::uint32_t>& ours, Clock::duration& took, bool& all) {
  const auto t0 = Clock::now();
  Bytes req;
  const std::uint32_t id = p.next_id++;
  end_frame(req, begin_frame(req, Kind::Request, static_cast<std::uint8_t>(Type::List), 0, id));
  Frame f;
  std::string err;
  if (!send_probe(p, req, 5000) || !read_probe_frame(p, f, 10000, err) ||
      f.header.id != id || f.header.status != 0) {
    return false;
  }
  took = Clock::now() - t0;
  std::vector<Entry> entries;
  if (decode_list_reply(f.payload, entries) != Status::Ok) return false;
  std::vector<std::uint32_t> ids;
  for (const Entry& e : entries) ids.push_back(e.id);
  std::sort(ids.begin(), ids.end());
  all = std::all_of(ours.begin(), ours.end(), [&ids](std::uint32_t mine) {
    return std::binary_search(ids.begin(), ids.end(), mine);
  });
  return true;
}

// One timed LIST on the probe: every connection of ours must be in it.
void time_list(Probe& p, const std::vector<std::uint32_t>& ours, Results& r) {
  Clock::duration took{};
  bool all = false;
  if (!ask_list(p, ours, took, all) || !all) {
    ++r.list_errors;
    return;
  }
  r.list_latency.record(static_cast<std::uint64_t>(took.count()));
}

// With several nodes the probe's node learns of the others' clients through
// the broker, a little after their HELLO: wait (bounded) until its LIST has
// them all before timing LIST.  One node: the first LIST has them.
void wait_list_complete(Probe& p, const std::vector<std::uint32_t>& ours) {
  const auto deadline = Clock::now() + kConvergeWait;
  Clock::duration took{};
  bool all = false;
  while (ask_list(p, ours, took, all) && !all && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::uint32_t> all_client_ids(const Fleet& f) {
  std::vector<std::uint32_t> ids;
  for (const auto& l : f.loops) {
    const auto mine = l->client_ids();
    ids.insert(ids.end(), mine.begin(), mine.end());
  }
  return ids;
}

// With every connection up: LIST now and then (which also keeps the probe
// alive), hold for -d seconds, release, and see the server let go.
void run_connect(const Options& o, Fleet& f, Probe& probe, Results& r) {
  r.loaded = sample(o);
  const auto ours = all_client_ids(f);
  if (o.hosts.size() > 1) wait_list_complete(probe, ours);
  for (int k = 0; k < o.list_requests; ++k) time_list(probe, ours, r);
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(o.seconds));
  const auto every = std::chrono::seconds(std::max<int>(1, probe.hello.heartbeat_s / 2));
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::min<Clock::duration>(end - Clock::now(), every));
    time_list(probe, ours, r);
  }
  f.set_phase(kDraining);
  wait_for(f, f.ctl.drained, kDrainWait);
  f.stop();
  if (!r.server) return;
  const auto t0 = Clock::now();
  do {
    r.after = sample(o);
    r.released = r.after.threads <= r.baseline.threads && r.after.fds <= r.baseline.fds;
    if (r.released) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (Clock::now() - t0 < kReleaseWait);
  r.released_s = Seconds(Clock::now() - t0).count();
}

void run_load(const Options& o, Fleet& f, Results& r) {
  r.baseline = sample(o);
  const auto t0 = Clock::now();
  f.set_phase(kRunning);
  hold(o, f, o.mode == Mode::Time ? "requests" : "messages");
  f.set_phase(kDraining);
  r.run_s = Seconds(Clock::now() - t0).count();
  wait_for(f, f.ctl.drained, kDrainWait);
  r.after = sample(o);
  f.stop();
}

}  // namespace

Results run_bench(const Options& o, const Target& target, Probe& probe) {
  Results r;
  r.server = o.server_pid != 0;
  if (o.mode == Mode::Connect) r.baseline = sample(o);
  if (r.server && !(o.mode == Mode::Connect ? r.baseline.ok : sample(o).ok)) {
    r.setup_error = "cannot read /proc/" + std::to_string(o.server_pid);
    return r;
  }
  Fleet f;
  start(f, o, target);
  const auto t0 = Clock::now();
  const bool ready = wait_for(f, f.ctl.ready, std::chrono::seconds(10 + units_of(o) / 200));
  r.connect_s = Seconds(Clock::now() - t0).count();
  r.connections = units_of(o) * (o.mode == Mode::Send ? 2 : 1);
  if (!ready || f.ctl.failed.load() != 0) {
    f.stop();
    gather(f, r);
    if (r.setup_error.empty()) r.setup_error = "connecting took too long";
    return r;
  }
  if (o.mode == Mode::Connect) run_connect(o, f, probe, r);
  else run_load(o, f, r);
  gather(f, r);
  return r;
}

namespace {

// One recv() into the probe's decoder, through its TLS session with --tls.
bool probe_recv(Probe& p, std::string& err) {
  std::uint8_t buf[64 * 1024];
  const net::IoResult io = net::recv_some(p.fd, buf, sizeof buf);
  if (io.status == net::IoStatus::Closed || io.status == net::IoStatus::Error) {
    err = io.status == net::IoStatus::Closed ? "server closed the connection" : "recv failed";
    return false;
  }
  if (io.status != net::IoStatus::Ok) return true;
  if (!p.tls) {
    p.decoder.feed(ByteView(buf, io.bytes));
    return true;
  }
  if (p.tls->feed(ByteView(buf, io.bytes), p.decoder) != tls::TlsSession::Input::Ok) {
    err = "TLS: " + p.tls->why();
    return false;
  }
  return send_pending(p.fd, *p.tls, 5000);  // tickets, KeyUpdate answers
}

}  // namespace

bool send_probe(Probe& p, const Bytes& frames, int timeout_ms) {
  if (!p.tls) return net::send_all(p.fd, frames.data(), frames.size(), timeout_ms);
  return p.tls->encrypt(ByteView(frames.data(), frames.size())) && send_pending(p.fd, *p.tls, timeout_ms);
}

bool read_probe_frame(Probe& p, Frame& f, int timeout_ms, std::string& err) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const DecodeResult d = p.decoder.next(f);
    if (d == DecodeResult::Frame) return true;
    if (d != DecodeResult::NeedMore) {
      err = describe(d);
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd pfd{p.fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      err = "no answer in time";
      return false;
    }
    if (!probe_recv(p, err)) return false;
  }
}

}  // namespace sc::bench
