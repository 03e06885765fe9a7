// sockchat-bench: a load generator for sockchatd that checks every answer.
// See bench/README.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "bench/options.hpp"
#include "bench/report.hpp"
#include "bench/runner.hpp"
#include "bench/tls.hpp"
#include "common/net.hpp"

namespace {

using namespace sc::bench;

constexpr int kExitErrors = 1;
constexpr int kExitSetup = 3;

// Thousands of connections need thousands of fds: take the whole hard limit.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

// Connects a probe to `e`, reads its HELLO and appends the node's address
// to the target.
bool open_probe(const Options& o, const Endpoint& e, Probe& p, Target& t, std::string& err) {
  p.fd = sc::net::connect_tcp(e.host, e.port, 5000, err);
  if (p.fd < 0) return false;
  Address a;
  a.len = sizeof a.addr;
  if (getpeername(p.fd, reinterpret_cast<sockaddr*>(&a.addr), &a.len) != 0) {
    err = "getpeername failed";
    return false;
  }
  t.nodes.push_back(a);
  if (o.tls) {
    if (t.tls == nullptr) t.tls = client_ctx(err);
    if (t.tls == nullptr) return false;
    p.tls = std::make_unique<sc::tls::TlsSession>(t.tls, sc::tls::TlsSession::Side::Client);
    if (!handshake(p.fd, *p.tls, p.decoder, 5000, err)) return false;
  }
  sc::Frame f;
  if (!read_probe_frame(p, f, 5000, err)) return false;
  if (f.header.type != static_cast<std::uint8_t>(sc::Type::Hello) ||
      sc::decode_hello(f.payload, p.hello) != sc::Status::Ok) {
    std::string text;
    sc::decode_text(f.payload, text);
    err = std::string("expected HELLO, got ") + sc::type_name(f.header.type) + ": " + text.substr(0, 200);
    return false;
  }
  return true;
}

// Proves every node is there.  The first node's probe stays open in `first`
// (connect mode times LIST on it); the others are closed again.
bool open_probes(const Options& o, Probe& first, Target& t, std::string& err) {
  for (std::size_t k = 0; k < o.hosts.size(); ++k) {
    Probe other;
    Probe& p = k == 0 ? first : other;
    const bool ok = open_probe(o, o.hosts[k], p, t, err);
    if (!ok) err = o.hosts[k].host + ":" + o.hosts[k].port + ": " + err;
    if (k != 0 && other.fd >= 0) close(other.fd);
    if (!ok) return false;
  }
  return true;
}

bool fd_limit_enough(const Options& o) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const int need = (o.mode == Mode::Connect ? o.connections
                    : o.mode == Mode::Send  ? 2 * o.clients
                                            : o.clients) + 64;
  if (rl.rlim_cur >= static_cast<rlim_t>(need)) return true;
  std::fprintf(stderr, "sockchat-bench: needs about %d fds, the limit is %llu (ulimit -n)\n", need,
               static_cast<unsigned long long>(rl.rlim_cur));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int code = 0;
  if (!parse_options(argc, argv, o, &code)) return code;
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  if (!fd_limit_enough(o)) return kExitSetup;
  Probe probe;
  Target target;
  std::string err;
  if (!open_probes(o, probe, target, err)) {
    std::fprintf(stderr, "sockchat-bench: %s\n", err.c_str());
    if (probe.fd >= 0) close(probe.fd);
    return kExitSetup;
  }
  // Only connect mode uses the probe later (LIST); otherwise it would only
  // be one more idle client.
  if (o.mode != Mode::Connect) {
    close(probe.fd);
    probe.fd = -1;
  }
  const Results r = run_bench(o, target, probe);
  if (probe.fd >= 0) close(probe.fd);
  if (o.json) print_json(o, r);
  else print_text(o, r);
  if (!r.setup_error.empty()) return kExitSetup;
  return r.error_total() != 0 ? kExitErrors : 0;
}
