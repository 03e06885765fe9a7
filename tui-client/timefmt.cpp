#include "timefmt.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace sc::tui {

namespace {

// Floor division, so that times before 1970 still split into a second and a
// non-negative fraction.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string format_utc_offset(std::int32_t offset_s) {
  const char sign = offset_s < 0 ? '-' : '+';
  const std::int64_t a = offset_s < 0 ? -static_cast<std::int64_t>(offset_s) : offset_s;
  char buf[32];
  if (a % 60 != 0) {
    std::snprintf(buf, sizeof buf, "UTC%c%02lld:%02lld:%02lld", sign,
                  static_cast<long long>(a / 3600), static_cast<long long>(a / 60 % 60),
                  static_cast<long long>(a % 60));
  } else {
    std::snprintf(buf, sizeof buf, "UTC%c%02lld:%02lld", sign, static_cast<long long>(a / 3600),
                  static_cast<long long>(a / 60 % 60));
  }
  return buf;
}

std::string format_server_time(std::int64_t time_us, std::int32_t offset_s,
                               std::string_view zone) {
  const std::int64_t local_us = time_us + static_cast<std::int64_t>(offset_s) * 1000000;
  const std::int64_t secs = floor_div(local_us, 1000000);
  const auto millis = static_cast<int>((local_us - secs * 1000000) / 1000);
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  char date[64] = "(bad date)";
  if (gmtime_r(&t, &tm) != nullptr) std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03d", millis);
  std::string out = std::string(date) + frac;
  if (!zone.empty()) out.append(" ").append(zone);
  out += " (" + format_utc_offset(offset_s) + ")";
  return out;
}

// time_us in this machine's zone through strftime(format), or `unknown`.
static std::string format_local(std::int64_t time_us, const char* format, const char* unknown) {
  const auto t = static_cast<std::time_t>(floor_div(time_us, 1000000));
  std::tm tm{};
  char buf[32];
  if (localtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, format, &tm) == 0) return unknown;
  return buf;
}

std::string format_clock(std::int64_t time_us) { return format_local(time_us, "%H:%M:%S", "--:--:--"); }

std::string format_local_time(std::int64_t time_us) {
  return format_local(time_us, "%Y-%m-%d %H:%M:%S", "?");
}


std::string format_ms(double ms) {
  char buf[32];
  if (ms < 1.0) {
    std::snprintf(buf, sizeof buf, "%.3f", ms);
  } else if (ms < 100.0) {
    std::snprintf(buf, sizeof buf, "%.1f", ms);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", ms);
  }
  return buf;
}

std::string format_time_batch(std::size_t answered, std::size_t asked, double elapsed_ms,
                              std::vector<double>& rtts_ms) {
  std::string out = std::to_string(answered) + "/" + std::to_string(asked) + " responses in " +
                    format_ms(elapsed_ms) + " ms";
  if (!rtts_ms.empty()) {
    std::sort(rtts_ms.begin(), rtts_ms.end());
    const double median = rtts_ms.size() % 2 == 1
                              ? rtts_ms[rtts_ms.size() / 2]
                              : (rtts_ms[rtts_ms.size() / 2 - 1] + rtts_ms[rtts_ms.size() / 2]) / 2;
    out += " (rtt min/median/max " + format_ms(rtts_ms.front()) + "/" + format_ms(median) + "/" +
           format_ms(rtts_ms.back()) + " ms)";
  }
  return out;
}

}  // namespace sc::tui
