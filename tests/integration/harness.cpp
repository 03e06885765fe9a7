#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/net.hpp"

extern char** environ;

namespace sc::itest {
namespace {

int g_server_failures = 0;

// How long a server may take to start (write its port file) and to stop.
constexpr Ms kStartBound{15000};
constexpr Ms kStopBound{10000};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string sockchatd_path() {
  const char* p = std::getenv("SOCKCHATD");
  if (!p || !*p) fail("SOCKCHATD is not set: run through meson test");
  return p;
}

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/sockchat-itest-XXXXXX";
  if (!mkdtemp(templ.data())) fail("mkdtemp: " + std::string(std::strerror(errno)));
  return templ;
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("signal ") + strsignal(WTERMSIG(st));
  return "wait status " + std::to_string(st);
}

// argv and envp are built before fork(): the child only calls
// async-signal-safe functions.
struct ExecPlan {
  std::vector<std::string> argv_s, env_s;
  std::vector<char*> argv, env;
};

ExecPlan plan_exec(const std::string& dir, const ServerOptions& opts) {
  ExecPlan p;
  p.argv_s = {sockchatd_path(), "--port", "0", "--port-file", dir + "/port"};
  if (!opts.bind.empty()) p.argv_s.insert(p.argv_s.end(), {"--bind", opts.bind});
  p.argv_s.insert(p.argv_s.end(), opts.args.begin(), opts.args.end());
  for (char** e = environ; *e; ++e) p.env_s.emplace_back(*e);
  p.env_s.insert(p.env_s.end(), opts.env.begin(), opts.env.end());
  for (auto& s : p.argv_s) p.argv.push_back(s.data());
  for (auto& s : p.env_s) p.env.push_back(s.data());
  p.argv.push_back(nullptr);
  p.env.push_back(nullptr);
  return p;
}

}  // namespace

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int server_failures() { return g_server_failures; }

// ---------------------------------------------------------------------------
// Server

Server::Server(ServerOptions opts)
    : host_(opts.bind.empty() || opts.bind == "::" ? "127.0.0.1" : opts.bind), dir_(make_temp_dir()) {
  // No destructor runs when the constructor throws: clean up here.
  try {
    spawn(opts);
    wait_for_port();
  } catch (...) {
    stop_and_judge();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

Server::Server(std::initializer_list<std::string> args)
    : Server(ServerOptions{std::vector<std::string>(args), "127.0.0.1", {}}) {}

Server::~Server() {
  stop_and_judge();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void Server::spawn(const ServerOptions& opts) {
  ExecPlan plan = plan_exec(dir_, opts);
  const int log_fd = open((dir_ + "/log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) fail("open log or /dev/null: " + std::string(std::strerror(errno)));
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) fail("fork: " + std::string(std::strerror(errno)));
  if (pid_ == 0) {
    // Dies with the test binary even if that crashes before its destructors.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(plan.argv[0], plan.argv.data(), plan.env.data());
    _exit(127);
  }
  ::close(log_fd);
  ::close(null_fd);
}

void Server::wait_for_port() {
  const auto deadline = Clock::now() + kStartBound;
  const std::string path = dir_ + "/port";
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    unsigned port = 0;
    std::string rest;
    // Written atomically, ends with a newline.
    if (in >> port && std::getline(in, rest) && port > 0 && port < 65536) {
      port_ = static_cast<std::uint16_t>(port);
      return;
    }
    if (!running()) fail("sockchatd exited before listening; log:\n" + log());
    std::this_thread::sleep_for(Ms(10));
  }
  fail("sockchatd wrote no port file within the bound; log:\n" + log());
}

void Server::signal(int sig) const {
  if (!reaped_) kill(pid_, sig);
}

bool Server::running() {
  return !wait_exit(Ms(0)).has_value() && !reaped_;
}

std::optional<int> Server::wait_exit(Ms bound) {
  if (reaped_) return std::nullopt;
  const auto deadline = Clock::now() + bound;
  for (;;) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return st;
    }
    if (r < 0 && errno != EINTR) fail("waitpid: " + std::string(std::strerror(errno)));
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(Ms(5));
  }
}

// Every server is stopped with SIGTERM and must exit 0; anything else (a
// crash, a sanitizer report, a hang) is a failure of this test binary.
void Server::stop_and_judge() {
  if (reaped_ || pid_ <= 0) return;
  kill(pid_, SIGTERM);
  std::optional<int> st = wait_exit(kStopBound);
  std::string verdict;
  if (!st) {
    kill(pid_, SIGKILL);
    int s = 0;
    while (waitpid(pid_, &s, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    verdict = "did not exit within " + std::to_string(kStopBound.count()) + " ms of SIGTERM";
  } else if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    verdict = "ended with " + describe_status(*st) + " after SIGTERM";
  }
  if (verdict.empty()) return;
  ++g_server_failures;
  std::fprintf(stderr, "\n*** sockchatd (pid %d) %s; its log:\n%s\n*** end of log\n",
               static_cast<int>(pid_), verdict.c_str(), log().c_str());
}

std::string Server::log() const {
  std::ifstream in(dir_ + "/log");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------------------
// Client

std::string OwnedFrame::describe() const {
  std::ostringstream s;
  s << kind_name(header.kind) << ' ' << type_name(header.type) << " (" << int(header.type)
    << ") status " << status_name(header.status) << " id " << header.id << " len "
    << header.length;
  return s.str();
}

// A blocking connect() with what connect_tcp() does not offer: a small
// receive buffer (set before connect(), so that the window the kernel
// advertises stays small) and a chosen source address (per-address limits:
// each 127.0.0.0/8 address is a different client to the server).
int connect_with(const std::string& host, std::uint16_t port, const ClientOptions& o) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    fail("not a numeric address: " + host);
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket: " + std::string(std::strerror(errno)));
  if (o.rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof o.rcvbuf);
  if (!o.source.empty()) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (ss.ss_family != AF_INET || inet_pton(AF_INET, o.source.c_str(), &src.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      const int e = errno;
      ::close(fd);
      fail("cannot bind source address " + o.source + ": " + std::strerror(e));
    }
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    const int e = errno;
    ::close(fd);
    fail("connect: " + std::string(std::strerror(e)));
  }
  return fd;
}

Client::Client(const Server& s, ClientOptions o) : Client(s.host(), s.port(), o) {}

Client::Client(const std::string& host, std::uint16_t port, ClientOptions o)
    : dec_(Role::Client, kMaxServerPayload) {
  if (o.rcvbuf > 0 || !o.source.empty()) {
    fd_ = connect_with(host, port, o);
  } else {
    std::string err;
    fd_ = net::connect_tcp(host, std::to_string(port), static_cast<int>(kWait.count()), err);
    if (fd_ < 0) fail(err);
  }
  net::set_nodelay(fd_);
  if (o.read_hello) read_hello();
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// HELLO must be the first frame on the connection.
void Client::read_hello(Ms timeout) {
  const std::optional<OwnedFrame> f = next_frame(timeout);
  if (!f) fail(std::string("no HELLO from the server") + (eof_ ? " (connection closed)" : ""));
  if (f->kind() != Kind::Indication || f->type() != Type::Hello)
    fail("first frame is not HELLO but " + f->describe() + " " + f->text());
  hello_ = as_hello(*f);
}

void Client::send_raw(ByteView bytes) {
  if (!try_send(bytes)) fail("send to server failed: " + std::string(std::strerror(errno)));
}

bool Client::try_send(ByteView bytes, Ms bound) {
  return net::send_all(fd_, bytes.data(), bytes.size(), static_cast<int>(bound.count()));
}

std::uint32_t Client::add_request(Bytes& out, std::uint8_t type, ByteView payload) {
  const std::uint32_t id = next_id_++;
  put_frame(out, Kind::Request, type, 0, id, payload);
  return id;
}

std::uint32_t Client::add_request(Bytes& out, Type type, ByteView payload) {
  return add_request(out, static_cast<std::uint8_t>(type), payload);
}

std::uint32_t Client::request(std::uint8_t type, ByteView payload) {
  Bytes out;
  const std::uint32_t id = add_request(out, type, payload);
  send_raw(view(out));
  return id;
}

std::uint32_t Client::request(Type type, ByteView payload) {
  return request(static_cast<std::uint8_t>(type), payload);
}

OwnedFrame Client::call(Type type, ByteView payload, Ms timeout) {
  return response(request(type, payload), timeout);
}

// Receives once into the decoder; false at the deadline or EOF.
bool Client::fill(Clock::time_point deadline) {
  if (eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  const int n = poll(&p, 1, ms_left(deadline));
  if (n < 0 && errno == EINTR) return true;
  if (n < 0) fail("poll: " + std::string(std::strerror(errno)));
  if (n == 0) return false;
  const auto space = dec_.write_space(64 * 1024);
  const net::IoResult r = net::recv_some(fd_, space.data(), space.size());
  if (r.status == net::IoStatus::Ok) {
    dec_.commit(r.bytes);
    return true;
  }
  dec_.commit(0);
  // A reset after the server closed with our bytes unread is a close too.
  if (r.status == net::IoStatus::Closed || r.err == ECONNRESET) {
    eof_ = true;
    return false;
  }
  if (r.status == net::IoStatus::WouldBlock) return true;
  fail("recv: " + std::string(std::strerror(r.err)));
}

bool decode_frame(FrameDecoder& dec, OwnedFrame& out) {
  Frame f;
  const DecodeResult r = dec.next(f);
  if (r == DecodeResult::Frame) {
    out.header = f.header;
    out.payload.assign(f.payload.begin(), f.payload.end());
    return true;
  }
  if (r != DecodeResult::NeedMore) fail(std::string("server sent a bad frame: ") + sc::describe(r));
  return false;
}

std::optional<OwnedFrame> take_from_backlog(std::deque<OwnedFrame>& backlog,
                                            const std::function<bool(const OwnedFrame&)>& match) {
  for (auto it = backlog.begin(); it != backlog.end(); ++it) {
    if (match(*it)) {
      OwnedFrame f = std::move(*it);
      backlog.erase(it);
      return f;
    }
  }
  return std::nullopt;
}

Client::Read Client::read_frame(Clock::time_point deadline, OwnedFrame& out) {
  for (;;) {
    if (decode_frame(dec_, out)) return Read::Frame;
    if (!fill(deadline)) return eof_ ? Read::Closed : Read::Timeout;
  }
}

std::optional<OwnedFrame> Client::take_if(const Match& match, Ms timeout) {
  if (auto f = take_from_backlog(backlog_, match)) return f;
  const auto deadline = Clock::now() + timeout;
  OwnedFrame f;
  while (read_frame(deadline, f) == Read::Frame) {
    if (match(f)) return f;
    backlog_.push_back(std::move(f));
  }
  return std::nullopt;
}

std::optional<OwnedFrame> Client::next_frame(Ms timeout) {
  return take_if([](const OwnedFrame&) { return true; }, timeout);
}

std::optional<OwnedFrame> Client::try_response(std::uint32_t id, Ms timeout) {
  return take_if([id](const OwnedFrame& f) { return f.kind() == Kind::Response && f.id() == id; },
              timeout);
}

OwnedFrame Client::response(std::uint32_t id, Ms timeout) {
  if (auto f = try_response(id, timeout)) return std::move(*f);
  fail("client " + std::to_string(hello_.client_id) + ": no response to request id " +
       std::to_string(id) + (eof_ ? " (connection closed)" : " within the bound"));
}

std::optional<OwnedFrame> Client::try_indication(Type type, Ms timeout) {
  return take_if([type](const OwnedFrame& f) { return f.kind() == Kind::Indication && f.type() == type; },
              timeout);
}

OwnedFrame Client::indication(Type type, Ms timeout) {
  if (auto f = try_indication(type, timeout)) return std::move(*f);
  fail("client " + std::to_string(hello_.client_id) + ": no " +
       type_name(static_cast<std::uint8_t>(type)) + " indication" +
       (eof_ ? " (connection closed)" : " within the bound"));
}

bool Client::wait_closed(Ms timeout) {
  const auto deadline = Clock::now() + timeout;
  OwnedFrame f;
  for (;;) {
    const Read r = read_frame(deadline, f);
    if (r == Read::Closed) return true;
    if (r == Read::Timeout) return false;
    backlog_.push_back(std::move(f));
  }
}

// ---------------------------------------------------------------------------
// Payloads

Bytes u8_payload(std::uint8_t v) { return Bytes{v}; }

Bytes u32_payload(std::uint32_t v) {
  Bytes b;
  put_u32(b, v);
  return b;
}

Bytes text_payload(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes send_payload(std::uint32_t target, std::string_view text) {
  Bytes b;
  put_send_request(b, SendRequest{target, std::string(text)});
  return b;
}

Bytes raw_frame(std::uint8_t kind, std::uint8_t type, std::uint32_t id, ByteView payload,
                std::uint8_t version) {
  Bytes b;
  Header h;
  h.version = version;
  h.kind = kind;
  h.type = type;
  h.id = id;
  h.length = static_cast<std::uint32_t>(payload.size());
  put_header(b, h);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

namespace {

template <class T, class Decode>
T decode_or_throw(const OwnedFrame& f, Decode decode) {
  T out{};
  std::string_view why;
  if (decode(f.view(), out, &why) != Status::Ok)
    fail("malformed payload in " + f.describe() + ": " + std::string(why));
  return out;
}

}  // namespace

Hello as_hello(const OwnedFrame& f) {
  return decode_or_throw<Hello>(f, [](ByteView p, Hello& o, std::string_view* w) { return decode_hello(p, o, w); });
}

TimeReply as_time(const OwnedFrame& f) {
  return decode_or_throw<TimeReply>(f, [](ByteView p, TimeReply& o, std::string_view* w) { return decode_time_reply(p, o, w); });
}

std::vector<Entry> as_list(const OwnedFrame& f) {
  return decode_or_throw<std::vector<Entry>>(f, [](ByteView p, std::vector<Entry>& o, std::string_view* w) { return decode_list_reply(p, o, w); });
}

Message as_message(const OwnedFrame& f) {
  return decode_or_throw<Message>(f, [](ByteView p, Message& o, std::string_view* w) { return decode_message(p, o, w); });
}

Presence as_presence(const OwnedFrame& f) {
  return decode_or_throw<Presence>(f, [](ByteView p, Presence& o, std::string_view* w) { return decode_presence(p, o, w); });
}

NotDelivered as_not_delivered(const OwnedFrame& f) {
  return decode_or_throw<NotDelivered>(f, [](ByteView p, NotDelivered& o, std::string_view* w) { return decode_not_delivered(p, o, w); });
}

std::uint32_t as_u32(const OwnedFrame& f) {
  return decode_or_throw<std::uint32_t>(f, [](ByteView p, std::uint32_t& o, std::string_view* w) { return decode_u32(p, o, w); });
}

Presence presence_of(Client& c, PresenceEvent ev, std::uint32_t who, Ms timeout) {
  auto f = c.take_if(
      [ev, who](const OwnedFrame& f) {
        if (f.kind() != Kind::Indication || f.type() != Type::Presence) return false;
        const Presence p = as_presence(f);
        return p.event == ev && p.entry.id == who;
      },
      timeout);
  if (!f)
    fail("client " + std::to_string(c.id()) + ": no PRESENCE event " + std::to_string(int(ev)) +
         " about client " + std::to_string(who) + (c.eof() ? " (connection closed)" : ""));
  return as_presence(*f);
}

Addr local_addr_of(int fd) { return net::local_addr(fd); }

}  // namespace sc::itest
