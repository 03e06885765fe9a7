#include "bench/proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace sc::bench {
namespace {

// utime and stime are fields 14 and 15 of /proc/PID/stat; the command name
// (field 2) may contain spaces and parentheses, so count from its last ')'.
bool read_cpu(pid_t pid, double& cpu_s) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After ')' come field 3 (state) onwards: skip 3..13.
  for (int i = 3; i <= 13; ++i) rest >> field;
  if (!(rest >> utime >> stime)) return false;
  cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return true;
}

void read_status(pid_t pid, ProcSample& s) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") f >> s.rss_kib;
    else if (key == "Threads:") f >> s.threads;
    f.ignore(1 << 20, '\n');
  }
}

int count_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

ProcSample sample_process(pid_t pid) {
  ProcSample s;
  if (!read_cpu(pid, s.cpu_s)) return s;
  read_status(pid, s);
  s.fds = count_fds(pid);
  s.ok = true;
  return s;
}

}  // namespace sc::bench
