#include "bench/report.hpp"

#include <fmt/core.h>

#include <string>

namespace sc::bench {
namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

double rate(const Results& r) {
  return r.run_s > 0 ? static_cast<double>(r.completed) / r.run_s : 0;
}

double cpu_us_per_op(const Results& r) {
  if (r.total_completed == 0) return 0;
  return (r.after.cpu_s - r.baseline.cpu_s) * 1e6 / static_cast<double>(r.total_completed);
}

std::string percentiles_text(const Histogram& h) {
  return fmt::format("p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}",
                     us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)),
                     us(h.quantile(0.999)), us(h.max()));
}

std::string percentiles_json(const Histogram& h) {
  return fmt::format(
      R"({{"count": {}, "p50": {:.1f}, "p90": {:.1f}, "p99": {:.1f}, "p99_9": {:.1f}, "max": {:.1f}}})",
      h.count(), us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)),
      us(h.quantile(0.999)), us(h.max()));
}

std::string sample_json(const ProcSample& s) {
  return fmt::format(R"({{"rss_kib": {}, "threads": {}, "fds": {}}})", s.rss_kib, s.threads, s.fds);
}

std::string errors_json(const Results& r) {
  const Errors& e = r.errors;
  return fmt::format(
      R"({{"lost": {}, "duplicated": {}, "wrong": {}, "disconnected": {}, "list": {}, "total": {}}})",
      e.lost, e.duplicated, e.wrong, e.disconnected, r.list_errors, r.error_total());
}

std::string escape_json(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') out += fmt::format("\\{}", ch);
    else if (u < 0x20) out += fmt::format("\\u{:04x}", u);
    else out += ch;
  }
  return out;
}

std::string connect_server_json(const Results& r) {
  const double n = r.connections > 0 ? r.connections : 1;
  return fmt::format(
      R"({{"baseline": {}, "connected": {}, "after": {}, "rss_kib_per_connection": {:.1f}, )"
      R"("cpu_us_per_connection": {:.1f}, "released": {}, "released_s": {:.2f}}})",
      sample_json(r.baseline), sample_json(r.loaded), sample_json(r.after),
      static_cast<double>(r.loaded.rss_kib - r.baseline.rss_kib) / n,
      (r.loaded.cpu_s - r.baseline.cpu_s) * 1e6 / n, r.released ? "true" : "false", r.released_s);
}

std::string load_server_json(const Options& o, const Results& r) {
  const double per_op = cpu_us_per_op(r);
  // A delivered message costs two requests: its SEND and its ACK.
  const double per_request = o.mode == Mode::Send ? per_op / 2 : per_op;
  return fmt::format(
      R"({{"cpu_s": {:.3f}, "cpu_us_per_request": {:.2f}, "cpu_us_per_message": {:.2f}, )"
      R"("before": {}, "after": {}}})",
      r.after.cpu_s - r.baseline.cpu_s, per_request, per_op, sample_json(r.baseline),
      sample_json(r.after));
}

void print_connect_text(const Options& o, const Results& r) {
  fmt::print("connect: {} connections in {:.3f} s ({:.0f} connections/s), {} thread(s)\n",
             r.connections, r.connect_s, r.connections / std::max(r.connect_s, 1e-9),
             o.threads);
  fmt::print("LIST latency µs with {} connected: {}\n", r.connections + 1,
             percentiles_text(r.list_latency));
  if (!r.server || !r.setup_error.empty()) return;
  const double n = r.connections > 0 ? r.connections : 1;
  fmt::print("server: baseline rss {} KiB, {} threads, {} fds\n", r.baseline.rss_kib,
             r.baseline.threads, r.baseline.fds);
  fmt::print("server: connected rss {} KiB ({:.1f} KiB per connection), {} threads, {} fds, "
             "{:.1f} µs CPU per connection\n",
             r.loaded.rss_kib, static_cast<double>(r.loaded.rss_kib - r.baseline.rss_kib) / n,
             r.loaded.threads, r.loaded.fds, (r.loaded.cpu_s - r.baseline.cpu_s) * 1e6 / n);
  fmt::print("server: after release rss {} KiB, {} threads, {} fds: {} after {:.2f} s\n",
             r.after.rss_kib, r.after.threads, r.after.fds,
             r.released ? "back to baseline" : "NOT back to baseline", r.released_s);
}

void print_load_text(const Options& o, const Results& r) {
  const char* unit = o.mode == Mode::Time ? "requests" : "messages";
  if (o.mode == Mode::Time) {
    fmt::print("time: {} clients, depth {}, {} thread(s), {:.2f} s\n", o.clients, o.depth,
               o.threads, r.run_s);
  } else {
    fmt::print("send: {} pairs, depth {}, {} bytes, {} thread(s), {:.2f} s\n", o.clients,
               o.depth, o.bytes, o.threads, r.run_s);
  }
  if (o.hosts.size() > 1) {
    fmt::print("nodes: {}{}\n", o.hosts.size(),
               o.mode == Mode::Send ? (o.same_node ? ", pairs on the same node" : ", pairs across nodes") : "");
  }
  fmt::print("{}: {} ({:.0f} {}/s)\n", unit, r.completed, rate(r), unit);
  fmt::print("latency µs ({}): {}\n", o.mode == Mode::Time ? "TIME" : "SEND to OK",
             percentiles_text(r.latency));
  if (!r.server) return;
  const double per_op = cpu_us_per_op(r);
  fmt::print("server: {:.2f} µs CPU per request{}, rss {} KiB, {} threads, {} fds\n",
             o.mode == Mode::Send ? per_op / 2 : per_op,
             o.mode == Mode::Send ? fmt::format(" ({:.2f} per message)", per_op) : "",
             r.after.rss_kib, r.after.threads, r.after.fds);
}

}  // namespace

void print_text(const Options& o, const Results& r) {
  if (!r.setup_error.empty()) fmt::print("setup failed: {}\n", r.setup_error);
  if (o.mode == Mode::Connect) print_connect_text(o, r);
  else print_load_text(o, r);
  const Errors& e = r.errors;
  fmt::print("errors: {} (lost {}, duplicated {}, wrong {}, disconnected {}, list {})\n",
             r.error_total(), e.lost, e.duplicated, e.wrong, e.disconnected, r.list_errors);
}

void print_json(const Options& o, const Results& r) {
  std::string s = fmt::format(R"({{"mode": "{}", "threads": {}, "nodes": {}, )", mode_name(o.mode),
                              o.threads, o.hosts.size());
  if (!r.setup_error.empty()) s += fmt::format(R"("setup_error": "{}", )", escape_json(r.setup_error));
  if (o.mode == Mode::Connect) {
    s += fmt::format(
        R"("connections": {}, "connect_s": {:.4f}, "connect_rate": {:.0f}, "held_s": {}, "list_latency_us": {})",
        r.connections, r.connect_s, r.connections / std::max(r.connect_s, 1e-9), o.seconds,
        percentiles_json(r.list_latency));
    if (r.server) s += fmt::format(R"(, "server_pid": {}, "server": {})", o.server_pid, connect_server_json(r));
  } else {
    s += fmt::format(R"("clients": {}, "depth": {}, "seconds": {:.3f}, )", o.clients, o.depth, r.run_s);
    if (o.mode == Mode::Send) {
      s += fmt::format(R"("pairs": {}, "bytes": {}, "same_node": {}, )", o.clients, o.bytes,
                       o.same_node || o.hosts.size() == 1 ? "true" : "false");
    }
    s += fmt::format(R"("completed": {}, "rate": {:.1f}, "latency_us": {})", r.completed, rate(r),
                     percentiles_json(r.latency));
    if (r.server) s += fmt::format(R"(, "server_pid": {}, "server": {})", o.server_pid, load_server_json(o, r));
  }
  s += fmt::format(R"(, "errors": {}}})", errors_json(r));
  fmt::print("{}\n", s);
}

}  // namespace sc::bench
