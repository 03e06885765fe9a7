// Command line of sockchat-bench: one mode and its knobs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sc::bench {

enum class Mode { Time, Send, Connect };

// One server (node) to connect to.
struct Endpoint {
  std::string host;
  std::string port;
};

struct Options {
  Mode mode = Mode::Time;
  // --host, repeated or comma-separated: the nodes of one cluster; the
  // connections go to them round-robin.  Never empty after parse_options.
  std::vector<Endpoint> hosts;
  std::string port;         // for hosts without :PORT; default 2555, with --tls 2556
  bool same_node = false;   // send: a pair's sender and receiver on one node
  bool tls = false;         // speak TLS (the server's --tls-port)
  int threads = 1;          // like redis-benchmark: one event loop by default
  int clients = 50;         // time: clients; send: pairs
  int depth = 1;            // requests in flight per client (sender)
  double seconds = 5;       // measured run (connect: how long to hold)
  int bytes = 32;           // send: message text size
  int connections = 1000;   // connect: N
  int list_requests = 20;   // connect: LISTs to time while all are connected
  pid_t server_pid = 0;     // 0: no server figures
  bool json = false;
};

// Parses argv.  On a usage error prints it to stderr and returns false with
// *exit_code 2; on --help prints usage and returns false with *exit_code 0.
bool parse_options(int argc, char** argv, Options& o, int* exit_code);

const char* mode_name(Mode m);

}  // namespace sc::bench
