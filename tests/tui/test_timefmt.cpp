#include <doctest/doctest.h>

#include <vector>

#include "tui-client/timefmt.hpp"

using namespace sc::tui;

TEST_CASE("server time in its own zone, with the offset") {
  // 2026-11-26 04:00:01.123 UTC is 12:00:01.123 in UTC+8.
  const std::int64_t us = 1795665601123456;
  CHECK(format_server_time(us, 8 * 3600, "CST") == "2026-11-26 12:00:01.123 CST (UTC+08:00)");
  CHECK(format_server_time(us, 0, "UTC") == "2026-11-26 04:00:01.123 UTC (UTC+00:00)");
  CHECK(format_server_time(us, -(3 * 3600 + 1800), "NST") == "2026-11-26 00:30:01.123 NST (UTC-03:30)");
  CHECK(format_server_time(us, 0, "") == "2026-11-26 04:00:01.123 (UTC+00:00)");
}

TEST_CASE("times before 1970 and odd offsets") {
  CHECK(format_server_time(-1, 0, "UTC") == "1969-12-31 23:59:59.999 UTC (UTC+00:00)");
  CHECK(format_utc_offset(1172) == "UTC+00:19:32");
  CHECK(format_utc_offset(-36000) == "UTC-10:00");
  CHECK(format_utc_offset(20700) == "UTC+05:45");
}

TEST_CASE("clock column") { CHECK(format_clock(1795665601123456) == "04:00:01"); }

TEST_CASE("batch summary: count, elapsed, rtt min/median/max") {
  std::vector<double> rtts = {3.0, 1.0, 2.0, 10.0};
  CHECK(format_time_batch(4, 4, 12.34, rtts) ==
        "4/4 responses in 12.3 ms (rtt min/median/max 1.0/2.5/10.0 ms)");
  std::vector<double> one = {0.0456};
  CHECK(format_time_batch(1, 100, 250, one) ==
        "1/100 responses in 250 ms (rtt min/median/max 0.046/0.046/0.046 ms)");
  std::vector<double> none;
  CHECK(format_time_batch(0, 5, 1.0, none) == "0/5 responses in 1.0 ms");
}
