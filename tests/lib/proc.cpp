#include "proc.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace sc::ftest {
namespace {

// The number after "Key:" in /proc/PID/status.
std::optional<long> status_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    std::istringstream s(line.substr(key.size()));
    long v = 0;
    if (s >> v) return v;
  }
  return std::nullopt;
}

std::optional<long> count_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return std::nullopt;
  long n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

std::optional<long> proc_threads(pid_t pid) { return status_field(pid, "Threads:"); }

// Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the
// command name (which may itself contain spaces and parentheses).
std::optional<double> proc_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream s(all.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After ")": state is field 3, so utime (14) is the 12th word.
  for (int i = 3; i <= 13; ++i) s >> field;
  if (!(s >> utime >> stime)) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<long> proc_peak_rss_kb(pid_t pid) { return status_field(pid, "VmHWM:"); }

std::optional<ProcUsage> proc_usage(pid_t pid) {
  const auto threads = proc_threads(pid);
  const auto rss = status_field(pid, "VmRSS:");
  const auto fds = count_fds(pid);
  const auto cpu = proc_cpu_seconds(pid);
  if (!threads || !rss || !fds || !cpu) return std::nullopt;
  return ProcUsage{*threads, *fds, *rss, *cpu};
}

std::string describe(const ProcUsage& u) {
  std::ostringstream s;
  s << "threads " << u.threads << ", fds " << u.fds << ", rss " << u.rss_kb << " kB, cpu "
    << u.cpu_s << " s";
  return s.str();
}

long wait_threads_at_most(pid_t pid, long most, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  long n = -1;
  for (;;) {
    if (auto t = proc_threads(pid)) n = *t;
    if (n >= 0 && n <= most) return n;
    if (std::chrono::steady_clock::now() >= deadline) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace sc::ftest
