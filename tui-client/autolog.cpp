#include "autolog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "sanitize.hpp"
#include "xdg.hpp"

namespace sc::tui {

namespace {

std::tm local_tm(std::int64_t at_us) {
  const std::time_t t = static_cast<std::time_t>(at_us / 1'000'000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::string format_tm(const std::tm& tm, const char* fmt) {
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, fmt, &tm);
  return std::string(buf, n);
}

bool write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

std::string autolog_file_name(std::int64_t at_us) { return format_tm(local_tm(at_us), "%Y-%m-%d") + ".log"; }

std::string autolog_dir() {
  const std::string dir = xdg_dir("XDG_STATE_HOME", ".local/state");
  return dir.empty() ? dir : dir + "/logs";
}

Autolog::~Autolog() {
  if (fd_ >= 0) ::close(fd_);
}

void Autolog::flush(const Scrollback& log, bool final) {
  if (!enabled()) return;
  next_ = std::max(next_, log.first_seq());  // lines trimmed unwritten are lost to the log too
  for (; next_ < log.end_seq(); ++next_) {
    const LogLine& line = log[next_ - log.first_seq()];
    if (line.kind == LineKind::Pending && !final) return;
    if (!write_line(line)) return;
  }
}

// O_NOFOLLOW: a symlink planted in the log directory does not redirect
// private talk into another file.
bool Autolog::open_for(const std::string& name) {
  if (name == open_name_ && fd_ >= 0) return true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!make_private_dirs(dir_)) {
    failed_ = "cannot make " + dir_ + ": " + std::strerror(errno);
    return false;
  }
  const std::string path = dir_ + "/" + name;
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) {
    failed_ = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  open_name_ = name;
  return true;
}

bool Autolog::write_line(const LogLine& line) {
  const std::tm tm = local_tm(line.at_us);
  if (!open_for(autolog_file_name(line.at_us))) return false;
  const std::string text = format_tm(tm, "%H:%M:%S ") + sanitize_plain(line.text) + "\n";
  if (!write_all(fd_, text)) {
    failed_ = "cannot write " + dir_ + "/" + open_name_ + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace sc::tui
