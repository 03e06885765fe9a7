// doctest main for the client's unit tests: wcwidth() needs a UTF-8 locale,
// and format_clock() a known zone.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <ctime>

int main(int argc, char** argv) {
  if (std::setlocale(LC_ALL, "C.UTF-8") == nullptr) {
    std::printf("SKIP: no C.UTF-8 locale here (wcwidth needs a UTF-8 one)\n");
    return 77;  // meson: skipped
  }
  setenv("TZ", "UTC", 1);
  tzset();
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
