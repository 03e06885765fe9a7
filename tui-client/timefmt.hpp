// Time formatting for the client.  Pure except format_clock(), which reads
// the local zone through localtime_r.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sc::tui {

// "UTC+08:00", "UTC-03:30", "UTC+00:00"; seconds appear only when the
// offset has them ("UTC+00:19:32", Amsterdam before 1937).
std::string format_utc_offset(std::int32_t offset_s);

// A TIME response as the server's local time:
// "2026-11-26 12:00:01.123 CST (UTC+08:00)".  The zone is printed as given;
// callers sanitize whole lines before display.
std::string format_server_time(std::int64_t time_us, std::int32_t offset_s,
                               std::string_view zone);

// "12:00:01" in this machine's local zone: the timestamp column.
std::string format_clock(std::int64_t time_us);

// "2026-11-30 14:02:11" in this machine's local zone: /whois.
std::string format_local_time(std::int64_t time_us);

// Milliseconds with a precision that suits the size: "0.087", "12.3", "1520".
std::string format_ms(double ms);

// "N/N responses in X ms (rtt min/median/max a/b/c ms)" for /time N.
// rtts_ms is sorted in place.
std::string format_time_batch(std::size_t answered, std::size_t asked, double elapsed_ms,
                              std::vector<double>& rtts_ms);

}  // namespace sc::tui
