// doctest's main(), shared by the unit test binaries; exits 77 when its case
// skipped (see tests/lib/skip.hpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "../lib/skip.hpp"

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  return sc::testing::exit_status(rc);
}
