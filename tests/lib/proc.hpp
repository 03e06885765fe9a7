// What /proc says about a process: the numbers the fault and soak tests
// compare before and after, so that a leaked thread, fd or buffer shows up
// as a difference rather than as a crash much later.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sc::ftest {

struct ProcUsage {
  long threads = 0;        // "Threads:" in /proc/PID/status
  long fds = 0;            // entries in /proc/PID/fd
  long rss_kb = 0;         // "VmRSS:" in /proc/PID/status
  double cpu_s = 0;        // utime + stime from /proc/PID/stat
};

// nullopt when the process is gone (or /proc cannot be read).
std::optional<ProcUsage> proc_usage(pid_t pid);
std::optional<long> proc_threads(pid_t pid);
std::optional<double> proc_cpu_seconds(pid_t pid);
// "VmHWM:" in /proc/PID/status: the peak resident set size so far.
std::optional<long> proc_peak_rss_kb(pid_t pid);

std::string describe(const ProcUsage& u);  // "threads 3, fds 9, rss 4100 kB"

// Waits until the process's thread count is at most `most` (a server joins
// the threads of closed connections from its main loop); returns the last
// count, -1 if it could never be read.
long wait_threads_at_most(pid_t pid, long most, std::chrono::milliseconds bound);

}  // namespace sc::ftest
