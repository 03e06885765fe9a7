// doctest's main() for the integration tests: a test binary also fails when
// one of its servers did not end cleanly (see Server::stop_and_judge), and
// exits 77 when its case skipped (see tests/lib/skip.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>

#include "../lib/skip.hpp"
#include "harness.hpp"

int main(int argc, char** argv) {
  // A server closing on us must show up as EPIPE, not kill the test.
  std::signal(SIGPIPE, SIG_IGN);
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  if (sc::itest::server_failures() > 0) {
    std::fprintf(stderr, "%d sockchatd run(s) did not end cleanly (see above)\n",
                 sc::itest::server_failures());
    return rc != 0 ? rc : 1;
  }
  return sc::testing::exit_status(rc);
}
