// The Session's reconnect: after a connection that was greeted is lost, or
// the server shut down, the client connects again by itself, waiting
// longer after each failed attempt (exponential backoff with jitter).  It
// does not after the user's own disconnect, a cancelled connect, a first
// connect that failed (a typo should not be retried for ever), a refused
// sign-in, or an ERROR a retry would only repeat (see retry_helps).  The
// nick, the account and the subscriptions are asked for again after the
// new HELLO; the scrollback stays.
#include <algorithm>
#include <random>

#include "session.hpp"

namespace sc::tui {

std::chrono::milliseconds reconnect_delay(int attempt, double jitter01) {
  using std::chrono::milliseconds;
  milliseconds base = kReconnectFirst;
  for (int i = 1; i < attempt && base < kReconnectCap; ++i) base *= 2;
  base = std::min<milliseconds>(base, kReconnectCap);
  const double j = std::clamp(jitter01, 0.0, 1.0);
  return milliseconds(static_cast<milliseconds::rep>(static_cast<double>(base.count()) * (1.0 - 0.25 * j)));
}

std::string reconnect_status(const SessionState& s) {
  if (!s.reconnecting()) return {};
  return "reconnecting to " + s.reconnect_to + " in " + std::to_string(s.reconnect_in_s) + " s";
}

namespace {

double random_jitter() {
  // One generator for the UI thread, which alone runs the Session.
  static std::mt19937 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

int whole_seconds_until(Clock::time_point now, Clock::time_point when) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
  return ms <= 0 ? 0 : static_cast<int>((ms + 999) / 1000);
}

}  // namespace

// The connection is gone for a reason the user did not choose.
unsigned Session::lose(const std::string& line) {
  const bool again = may_reconnect();
  unsigned d = drop(line, LineKind::Error);
  // drop() does nothing without a connection (a connector that failed).
  if (d == kNothing) d = add(LineKind::Error, line) | kEverything;
  return again ? d | schedule_reconnect() : d;
}

bool Session::may_reconnect() const { return reconnect_ && !fatal_ && (greeted_ || attempts_ > 0); }

unsigned Session::schedule_reconnect() {
  ++attempts_;
  const double j = jitter_ ? jitter_() : random_jitter();
  const auto delay = reconnect_delay(attempts_, j);
  reconnect_at_ = now_() + delay;
  s_.reconnect_to = last_host_ + ":" + last_port_;
  s_.reconnect_in_s = whole_seconds_until(now_(), reconnect_at_);
  const std::string when = delay < std::chrono::seconds(1)
                               ? std::to_string(delay.count()) + " ms"
                               : std::to_string(s_.reconnect_in_s) + " s";
  return add(LineKind::Info, "reconnecting to " + s_.reconnect_to + " in " + when + " (attempt " +
                                 std::to_string(attempts_) + "; Esc or /disconnect cancels)") |
         kStatus | kMenu | kInput;
}

unsigned Session::cancel_reconnect() {
  if (!s_.reconnecting()) return kNothing;
  s_.reconnect_in_s = -1;
  attempts_ = 0;
  return add(LineKind::Info, "reconnect cancelled") | kStatus | kMenu | kInput;
}

unsigned Session::reconnect_tick(Clock::time_point now) {
  if (!s_.reconnecting()) return kNothing;
  if (now >= reconnect_at_) {
    s_.reconnect_in_s = -1;
    return open(last_host_, last_port_, last_tls_) | kStatus;
  }
  const int left = whole_seconds_until(now, reconnect_at_);
  if (left == s_.reconnect_in_s) return kNothing;
  s_.reconnect_in_s = left;
  return kStatus;
}

// Wakes up when the countdown's whole second changes, and at the attempt.
int Session::reconnect_timeout_ms(Clock::time_point now) const {
  if (!s_.reconnecting()) return -1;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(reconnect_at_ - now).count();
  if (ms <= 0) return 0;
  const auto to_next_second = (ms - 1) % 1000 + 1;
  return static_cast<int>(to_next_second);
}

}  // namespace sc::tui
