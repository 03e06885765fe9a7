// The server's resource use, read from /proc/PID (Linux).
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace sc::bench {

struct ProcSample {
  bool ok = false;
  double cpu_s = 0;          // utime + stime of all threads, seconds
  std::int64_t rss_kib = 0;  // VmRSS
  int threads = 0;
  int fds = 0;
};

ProcSample sample_process(pid_t pid);

}  // namespace sc::bench
