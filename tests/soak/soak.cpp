// sockchat-soak: many clients doing random mixes of every request against a
// real sockchatd for a bounded time, checking invariants all along.
//
//   sockchat-soak --server PATH [--seconds S] [--clients N] [--seed N]
//
// One poll() loop drives every simulated client (non-blocking sockets, an
// output buffer each); a second thread is the probe, whose TIME requests
// must each be answered within 1 s.  Clients connect, pipeline requests,
// SEND to each other and ACK promptly, late or never, read slowly, and end
// with BYE, FIN or RST before reconnecting under a new id.
//
// Invariant groups (each passes or fails as a whole; every single check is
// counted):
//   responses  every request gets exactly one response with its id and type,
//              the status the request allows, non-SEND ones in request order
//   delivery   a SEND answered OK was shown to its target exactly once, and
//              the target had ACKed it; NOT_DELIVERED never for a message
//              whose ACK the server accepted; every SEND settled in time
//   order      messages from one sender to one target arrive in send order
//   probe      TIME answered within 1 s, every time
//   resources  after everyone left: server threads and fds back to the
//              start, RSS within a small margin
//   exit       SIGTERM at the end: exit status 0
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/codec.hpp"
#include "common/net.hpp"
#include "proc.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
using sc::Bytes;
using sc::ByteView;
using sc::Status;
using sc::Type;

constexpr int kDeliveryTimeoutS = 2;
// A stalled server (one slow peer holding up others) shows as seconds, up
// to the 5 s send timeout; 1 s leaves room for a CI machine that builds
// something else meanwhile (200 ms failed once that way, at 316 ms).
constexpr Ms kProbeBound{1000};
constexpr Ms kResponseBound{10000};   // non-SEND requests (slow readers included)
constexpr Ms kSettleBound{kDeliveryTimeoutS * 1000 + 8000};  // SENDs
constexpr std::size_t kMaxOutstanding = 8;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---------------------------------------------------------------------------
// Invariant bookkeeping.

enum Group { kResponses, kDelivery, kOrder, kProbe, kResources, kExit, kGroups };
const char* const kGroupNames[kGroups] = {"responses", "delivery", "order", "probe", "resources", "exit"};

struct Tally {
  long checks[kGroups] = {};
  long failures[kGroups] = {};
  std::map<std::string, long> ops;

  // Counts one check; prints the first few failures of each group.
  bool check(Group g, bool ok, const std::string& what) {
    ++checks[g];
    if (ok) return true;
    if (++failures[g] <= 10) std::fprintf(stderr, "VIOLATION [%s] %s\n", kGroupNames[g], what.c_str());
    return false;
  }
  void op(const std::string& name) { ++ops[name]; }
};

Tally tally;

// ---------------------------------------------------------------------------
// The server process.

struct ServerProc {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string dir;
};

ServerProc start_server(const std::string& path) {
  ServerProc s;
  char templ[] = "/tmp/sockchat-soak-XXXXXX";
  if (!mkdtemp(templ)) {
    std::perror("mkdtemp");
    std::exit(2);
  }
  s.dir = templ;
  const std::string port_file = s.dir + "/port", log = s.dir + "/log";
  const std::string delivery = std::to_string(kDeliveryTimeoutS);
  std::vector<std::string> args = {path, "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file,
                                   "--delivery-timeout", delivery, "--max-send-rate", "0",
                                   "--max-clients", "10000", "--log-level", "warn",
                                   // The soak churns hundreds of clients from 127.0.0.1 and
                                   // renames at will: it checks correctness under load, the
                                   // limits have their own tests (tests/faults/test_abuse.cpp).
                                   "--max-request-rate", "0", "--max-clients-per-ip", "0",
                                   "--max-connect-rate", "0"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t parent = getpid();
  s.pid = fork();
  if (s.pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  for (int i = 0; i < 1500 && s.port == 0; ++i) {
    std::ifstream in(port_file);
    unsigned p = 0;
    std::string rest;
    if (in >> p && std::getline(in, rest) && p > 0 && p < 65536) s.port = static_cast<std::uint16_t>(p);
    else std::this_thread::sleep_for(Ms(10));
  }
  if (s.port == 0) {
    std::fprintf(stderr, "sockchat-soak: the server did not start\n");
    kill(s.pid, SIGKILL);
    std::exit(2);
  }
  return s;
}

std::string server_log(const ServerProc& s) {
  std::ifstream in(s.dir + "/log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---------------------------------------------------------------------------
// Messages in flight, keyed by (sender id, sequence number) from the token
// in their text, and by message id once the target has seen them.

struct MsgRecord {
  std::uint32_t sender = 0;
  std::uint32_t request = 0;  // the SEND's request id on the sender
  std::uint32_t target = 0;
  std::uint32_t message_id = 0;
  int shown = 0;
  bool ack_sent = false, ack_ok = false, ack_refused = false;
  bool send_ok = false, send_failed = false;
};

std::map<std::pair<std::uint32_t, std::uint64_t>, MsgRecord> messages;
std::map<std::uint32_t, std::pair<std::uint32_t, std::uint64_t>> by_message_id;

std::string token(std::uint32_t sender, std::uint64_t seq) {
  return "m " + std::to_string(sender) + " " + std::to_string(seq) + " ";
}

bool parse_token(const std::string& text, std::uint32_t& sender, std::uint64_t& seq) {
  unsigned long a = 0;
  unsigned long long b = 0;
  if (std::sscanf(text.c_str(), "m %lu %llu ", &a, &b) != 2) return false;
  sender = static_cast<std::uint32_t>(a);
  seq = b;
  return true;
}

// ---------------------------------------------------------------------------
// One simulated client.

enum class AckPolicy { Prompt, Late, Never };

struct Outstanding {
  Type type;
  Clock::time_point sent;
  Bytes echo;              // PING payload
  bool expect_bad = false; // NICK we know to be invalid
  std::uint8_t raw_type = 0;
  std::pair<std::uint32_t, std::uint64_t> msg{};  // SEND: its record; ACK: the acked one
};

std::mt19937_64 rng;

int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

std::vector<std::uint32_t> live_ids;  // clients that got HELLO and are open

void add_live(std::uint32_t id) { live_ids.push_back(id); }
void remove_live(std::uint32_t id) { std::erase(live_ids, id); }

class Sim {
 public:
  enum class State { Waiting, Greeting, Open, Ending, Gone };

  Sim() : dec_(sc::Role::Client, sc::kMaxServerPayload) {}

  void connect_now(std::uint16_t port, Clock::time_point now);
  void on_readable(Clock::time_point now);
  void act(Clock::time_point now, bool winding_down);
  void flush();
  void check_overdue(Clock::time_point now);
  void begin_bye(Clock::time_point now);
  void abandon(Clock::time_point now) { end_session(now, "abandoned"); }
  // The slot is free (after Gone) and it is time to come back.
  bool wants_reconnect(Clock::time_point now) const { return state_ == State::Waiting && now >= reconnect_at_; }
  bool done() const { return state_ == State::Waiting; }
  bool has_pending_sends() const;
  short events(Clock::time_point now) const;
  int fd() const { return fd_; }
  State state() const { return state_; }

 private:
  void on_frame(const sc::Frame& f, Clock::time_point now);
  void on_response(const sc::Frame& f);
  void check_send_response(const sc::Frame& f, const Outstanding& o);
  void check_ack_response(const sc::Frame& f, const Outstanding& o);
  void on_message(const sc::Frame& f, Clock::time_point now);
  std::uint32_t request(Type type, ByteView payload, Outstanding o, std::uint8_t raw = 0);
  void random_request(Clock::time_point now);
  void send_ack(std::uint32_t message_id, Clock::time_point now);
  void end_session(Clock::time_point now, const char* how);
  void server_closed(Clock::time_point now);

  int fd_ = -1;
  State state_ = State::Waiting;
  std::uint32_t id_ = 0;
  sc::FrameDecoder dec_;
  Bytes out_;
  std::size_t sent_ = 0;
  std::uint32_t next_req_ = 1;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint32_t, Outstanding> outstanding_;
  std::deque<std::uint32_t> in_order_;  // non-SEND request ids, oldest first
  AckPolicy policy_ = AckPolicy::Prompt;
  bool slow_reader_ = false;
  bool bye_sent_ = false;
  int ops_left_ = 0;
  Clock::time_point next_op_{}, next_read_{}, reconnect_at_{}, ending_since_{};
  std::vector<std::pair<Clock::time_point, std::uint32_t>> acks_due_;
  std::map<std::uint32_t, std::uint64_t> last_seq_from_;
};

std::vector<std::unique_ptr<Sim>> sims;

void Sim::connect_now(std::uint16_t port, Clock::time_point now) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    reconnect_at_ = now + Ms(100);
    return;
  }
  slow_reader_ = chance(0.1);
  if (slow_reader_) {
    const int small = 4096;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: HELLO tells
  sc::net::set_nodelay(fd_);
  dec_ = sc::FrameDecoder(sc::Role::Client, sc::kMaxServerPayload);
  out_.clear();
  sent_ = 0;
  next_req_ = 1;
  next_seq_ = 1;
  outstanding_.clear();
  in_order_.clear();
  acks_due_.clear();
  last_seq_from_.clear();
  bye_sent_ = false;
  const int p = rand_int(0, 9);
  policy_ = p < 6 ? AckPolicy::Prompt : p < 8 ? AckPolicy::Late : AckPolicy::Never;
  ops_left_ = rand_int(5, 120);
  state_ = State::Greeting;
  ending_since_ = now;
  next_read_ = now;
  tally.op("connect");
}

short Sim::events(Clock::time_point now) const {
  if (fd_ < 0) return 0;
  short ev = 0;
  if (!slow_reader_ || now >= next_read_ || state_ == State::Greeting) ev |= POLLIN;
  if (sent_ < out_.size()) ev |= POLLOUT;
  return ev;
}

void Sim::flush() {
  while (fd_ >= 0 && sent_ < out_.size()) {
    const sc::net::IoResult r = sc::net::send_some(fd_, out_.data() + sent_, out_.size() - sent_);
    if (r.status != sc::net::IoStatus::Ok) break;  // full, or closed: reading will tell
    sent_ += r.bytes;
  }
  if (sent_ == out_.size()) {
    out_.clear();
    sent_ = 0;
  }
}

void Sim::on_readable(Clock::time_point now) {
  // A slow reader takes one small bite now and then (~10 kB/s).
  const std::size_t budget = slow_reader_ ? 4096 : 256 * 1024;
  std::size_t got = 0;
  while (fd_ >= 0 && got < budget) {
    auto space = dec_.write_space(std::min<std::size_t>(budget - got, 16384));
    const sc::net::IoResult r = sc::net::recv_some(fd_, space.data(), std::min(space.size(), budget - got));
    dec_.commit(r.status == sc::net::IoStatus::Ok ? r.bytes : 0);
    if (r.status == sc::net::IoStatus::WouldBlock) break;
    if (r.status != sc::net::IoStatus::Ok) {
      // Decode what came before the close first.
      sc::Frame f;
      while (dec_.next(f) == sc::DecodeResult::Frame && fd_ >= 0) on_frame(f, now);
      if (fd_ >= 0) server_closed(now);
      return;
    }
    got += r.bytes;
    sc::Frame f;
    for (;;) {
      const sc::DecodeResult d = dec_.next(f);
      if (d == sc::DecodeResult::NeedMore) break;
      if (!tally.check(kResponses, d == sc::DecodeResult::Frame,
                       std::string("client ") + std::to_string(id_) + ": bad frame from server: " + sc::describe(d))) {
        end_session(now, "bad-frame");
        return;
      }
      on_frame(f, now);
      if (fd_ < 0) return;
    }
  }
  if (slow_reader_) next_read_ = now + Ms(rand_int(100, 700));
}

void Sim::on_frame(const sc::Frame& f, Clock::time_point now) {
  const auto kind = static_cast<sc::Kind>(f.header.kind);
  const auto type = static_cast<Type>(f.header.type);
  if (kind == sc::Kind::Response) return on_response(f);
  switch (type) {
    case Type::Hello: {
      sc::Hello h;
      tally.check(kResponses, state_ == State::Greeting && sc::decode_hello(f.payload, h) == Status::Ok,
                  "HELLO not first or malformed");
      id_ = h.client_id;
      state_ = State::Open;
      add_live(id_);
      next_op_ = now + Ms(rand_int(0, 200));
      return;
    }
    case Type::Message: return on_message(f, now);
    case Type::Presence: {
      sc::Presence p;
      tally.check(kResponses, sc::decode_presence(f.payload, p) == Status::Ok, "malformed PRESENCE");
      return;
    }
    case Type::Error:
      // Only a slow reader may be dropped (SENDQ_EXCEEDED); nothing else
      // this soak does deserves an ERROR.
      tally.check(kResponses,
                  slow_reader_ && f.header.status == static_cast<std::uint8_t>(Status::SendqExceeded),
                  "client " + std::to_string(id_) + ": ERROR " + sc::status_name(f.header.status) + ": " +
                      std::string(f.payload.begin(), f.payload.end()));
      tally.op("error-indication");
      return;
    default:
      tally.check(kResponses, false, std::string("unexpected indication ") + sc::type_name(f.header.type));
  }
}

void Sim::on_response(const sc::Frame& f) {
  const auto it = outstanding_.find(f.header.id);
  if (!tally.check(kResponses, it != outstanding_.end(),
                   "client " + std::to_string(id_) + ": response to unknown or answered id " +
                       std::to_string(f.header.id)))
    return;
  const Outstanding o = it->second;
  outstanding_.erase(it);
  const std::uint8_t want_type = o.raw_type ? o.raw_type : static_cast<std::uint8_t>(o.type);
  tally.check(kResponses, f.header.type == want_type,
              std::string("response type ") + sc::type_name(f.header.type) + " for " + sc::type_name(want_type));
  const auto st = static_cast<Status>(f.header.status);
  if (o.type == Type::Send) return check_send_response(f, o);
  tally.check(kResponses, !in_order_.empty() && in_order_.front() == f.header.id,
              "client " + std::to_string(id_) + ": response " + std::to_string(f.header.id) + " out of request order");
  std::erase(in_order_, f.header.id);
  if (o.raw_type) {
    tally.check(kResponses, st == Status::UnknownType, "unknown type not UNKNOWN_TYPE");
    return;
  }
  switch (o.type) {
    case Type::Ping:
      tally.check(kResponses, st == Status::Ok && Bytes(f.payload.begin(), f.payload.end()) == o.echo, "PING echo");
      break;
    case Type::Nick:
      tally.check(kResponses, st == (o.expect_bad ? Status::BadRequest : Status::Ok),
                  std::string("NICK answered ") + sc::status_name(f.header.status));
      break;
    case Type::Ack: return check_ack_response(f, o);
    case Type::Time: {
      sc::TimeReply t;
      tally.check(kResponses, st == Status::Ok && sc::decode_time_reply(f.payload, t) == Status::Ok, "TIME reply");
      break;
    }
    case Type::List: {
      std::vector<sc::Entry> e;
      tally.check(kResponses, st == Status::Ok && sc::decode_list_reply(f.payload, e) == Status::Ok, "LIST reply");
      break;
    }
    default:
      tally.check(kResponses, st == Status::Ok,
                  std::string(sc::type_name(want_type)) + " answered " + sc::status_name(f.header.status));
  }
  if (o.type == Type::Bye && st == Status::Ok) state_ = State::Ending;
}

void Sim::check_send_response(const sc::Frame& f, const Outstanding& o) {
  MsgRecord& m = messages[o.msg];
  const auto st = static_cast<Status>(f.header.status);
  const std::string who = "SEND " + std::to_string(m.sender) + "#" + std::to_string(o.msg.second) +
                          " to " + std::to_string(m.target);
  if (st == Status::Ok) {
    std::uint32_t mid = 0;
    tally.check(kDelivery, sc::decode_u32(f.payload, mid) == Status::Ok, who + ": OK payload");
    tally.check(kDelivery, m.shown == 1 && m.message_id == mid, who + ": OK but shown " + std::to_string(m.shown) + " times");
    tally.check(kDelivery, m.ack_sent, who + ": OK but the target never ACKed");
    tally.check(kDelivery, !m.ack_refused, who + ": OK but the target's ACK was refused");
    m.send_ok = true;
    tally.op("send-ok");
  } else if (st == Status::NotDelivered) {
    sc::NotDelivered nd;
    tally.check(kDelivery, sc::decode_not_delivered(f.payload, nd) == Status::Ok, who + ": NOT_DELIVERED payload");
    tally.check(kDelivery, !m.ack_ok, who + ": NOT_DELIVERED although the server accepted the ACK");
    tally.check(kDelivery, m.shown == 0 || nd.message_id == m.message_id, who + ": NOT_DELIVERED names another message");
    m.send_failed = true;
    tally.op("send-not-delivered");
  } else {
    tally.check(kDelivery, st == Status::NoSuchClient && m.shown == 0,
                who + ": answered " + sc::status_name(f.header.status));
    m.send_failed = true;
    tally.op("send-no-such-client");
  }
}

void Sim::check_ack_response(const sc::Frame& f, const Outstanding& o) {
  const auto st = static_cast<Status>(f.header.status);
  if (o.msg.first == 0) {  // a bogus ACK
    tally.check(kResponses, st == Status::NoSuchMessage, "bogus ACK not NO_SUCH_MESSAGE");
    return;
  }
  MsgRecord& m = messages[o.msg];
  tally.check(kResponses, st == Status::Ok || st == Status::NoSuchMessage, "ACK answered " + std::string(sc::status_name(f.header.status)));
  if (st == Status::Ok) {
    m.ack_ok = true;
    tally.check(kDelivery, !m.send_failed, "ACK accepted for a message already NOT_DELIVERED");
  } else {
    m.ack_refused = true;
    tally.check(kDelivery, !m.send_ok, "SEND OK for a message whose ACK was refused");
  }
}

void Sim::on_message(const sc::Frame& f, Clock::time_point now) {
  sc::Message msg;
  if (!tally.check(kDelivery, sc::decode_message(f.payload, msg) == Status::Ok, "malformed MESSAGE")) return;
  std::uint32_t sender = 0;
  std::uint64_t seq = 0;
  if (!tally.check(kDelivery, parse_token(msg.text, sender, seq) && sender == msg.sender,
                   "MESSAGE text or sender mangled: " + msg.text.substr(0, 40)))
    return;
  tally.op("message-shown");
  const auto key = std::make_pair(sender, seq);
  MsgRecord& m = messages[key];
  ++m.shown;
  tally.check(kDelivery, m.shown == 1, "message " + std::to_string(f.header.id) + " shown twice");
  tally.check(kDelivery, m.target == id_, "message for " + std::to_string(m.target) + " shown to " + std::to_string(id_));
  m.message_id = f.header.id;
  by_message_id[f.header.id] = key;
  auto& last = last_seq_from_[sender];
  tally.check(kOrder, seq > last, "from " + std::to_string(sender) + " to " + std::to_string(id_) + ": #" +
                                      std::to_string(seq) + " after #" + std::to_string(last));
  last = std::max(last, seq);
  switch (policy_) {
    case AckPolicy::Prompt: send_ack(f.header.id, now); break;
    case AckPolicy::Late: acks_due_.emplace_back(now + Ms(rand_int(200, 3500)), f.header.id); break;
    case AckPolicy::Never: break;
  }
}

std::uint32_t Sim::request(Type type, ByteView payload, Outstanding o, std::uint8_t raw) {
  const std::uint32_t id = next_req_++;
  sc::put_frame(out_, sc::Kind::Request, raw ? raw : static_cast<std::uint8_t>(type), 0, id, payload);
  o.type = type;
  o.raw_type = raw;
  outstanding_[id] = std::move(o);
  if (type != Type::Send) in_order_.push_back(id);
  tally.op(raw ? "unknown-type" : sc::type_name(static_cast<std::uint8_t>(type)));
  return id;
}

void Sim::send_ack(std::uint32_t message_id, Clock::time_point now) {
  if (bye_sent_) return;  // the server answers nothing after BYE
  Bytes p;
  sc::put_u32(p, message_id);
  Outstanding o{Type::Ack, now, {}, false, 0, {}};
  const auto it = by_message_id.find(message_id);
  if (it != by_message_id.end()) {
    o.msg = it->second;
    messages[it->second].ack_sent = true;
  }
  request(Type::Ack, p, o);
}

void Sim::random_request(Clock::time_point now) {
  Outstanding o{Type::Time, now, {}, false, 0, {}};
  Bytes p;
  switch (rand_int(0, 11)) {
    case 0: request(Type::Time, {}, o); break;
    case 1: request(Type::Name, {}, o); break;
    case 2: request(Type::List, {}, o); break;
    case 3: {
      o.echo.resize(static_cast<std::size_t>(rand_int(0, 2000)));
      for (auto& b : o.echo) b = static_cast<std::uint8_t>(rand_int(0, 255));
      request(Type::Ping, o.echo, o);
      break;
    }
    case 4: {
      o.expect_bad = chance(0.3);
      const std::string nick = o.expect_bad ? "bad nick" : "n" + std::to_string(id_) + "_" + std::to_string(next_req_);
      request(Type::Nick, ByteView(reinterpret_cast<const std::uint8_t*>(nick.data()), nick.size()), o);
      break;
    }
    case 5: sc::put_u8(p, chance(0.5) ? sc::kSubscribePresence : 0); request(Type::Subscribe, p, o); break;
    case 6: sc::put_u32(p, 0xfffffff0u - static_cast<std::uint32_t>(rand_int(0, 1000))); request(Type::Ack, p, o); break;
    // Types no server knows: 10 is AUTH since the second edition.
    case 7: request(Type::Time, {}, o, static_cast<std::uint8_t>(rand_int(11, 60))); break;
    default: {  // SEND, the most common
      if (live_ids.empty()) break;
      const std::uint32_t target = live_ids[static_cast<std::size_t>(rand_int(0, static_cast<int>(live_ids.size()) - 1))];
      const std::uint64_t seq = next_seq_++;
      const std::string text = token(id_, seq) + std::string(static_cast<std::size_t>(rand_int(1, 300)), 'z');
      sc::put_send_request(p, sc::SendRequest{target, text});
      o.msg = {id_, seq};
      const std::uint32_t req = request(Type::Send, p, o);
      MsgRecord& m = messages[o.msg];
      m.sender = id_;
      m.request = req;
      m.target = target;
    }
  }
}

void Sim::act(Clock::time_point now, bool winding_down) {
  if (state_ == State::Gone || state_ == State::Waiting || fd_ < 0) return;
  if (state_ == State::Ending) {
    if (now - ending_since_ > Ms(5000)) {
      tally.check(kResponses, false, "client " + std::to_string(id_) + ": no EOF within 5 s of BYE OK");
      end_session(now, "stuck");
    }
    return;
  }
  if (state_ == State::Greeting) {
    if (now - ending_since_ > Ms(10000)) {
      tally.check(kResponses, false, "no HELLO within 10 s of connecting");
      end_session(now, "no-hello");
    }
    return;
  }
  for (auto it = acks_due_.begin(); it != acks_due_.end();) {
    if (it->first <= now) {
      send_ack(it->second, now);
      it = acks_due_.erase(it);
    } else {
      ++it;
    }
  }
  if (winding_down || bye_sent_ || now < next_op_) return;
  if (ops_left_-- <= 0) {
    const int how = rand_int(0, 9);
    if (how < 4) return begin_bye(now);
    return end_session(now, how < 7 ? "rst" : "fin");
  }
  const int burst = chance(0.2) ? rand_int(2, 6) : 1;
  for (int i = 0; i < burst && outstanding_.size() < kMaxOutstanding; ++i) random_request(now);
  next_op_ = now + Ms(rand_int(20, 400));
}

void Sim::begin_bye(Clock::time_point now) {
  if (state_ != State::Open || bye_sent_) return;
  request(Type::Bye, {}, Outstanding{Type::Bye, now, {}, false, 0, {}});
  bye_sent_ = true;
  ending_since_ = now;
}

bool Sim::has_pending_sends() const {
  for (const auto& [id, o] : outstanding_) {
    if (o.type == Type::Send) return true;
  }
  return !acks_due_.empty();
}

// Requests not answered in time.  A slow reader gets its answers late by
// its own choice, so it is given far longer.
void Sim::check_overdue(Clock::time_point now) {
  const int factor = slow_reader_ ? 6 : 1;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    const bool send = it->second.type == Type::Send;
    if (now - it->second.sent > factor * (send ? kSettleBound : kResponseBound)) {
      tally.check(send ? kDelivery : kResponses, false,
                  "client " + std::to_string(id_) + (slow_reader_ ? " (slow reader): " : ": ") +
                      sc::type_name(static_cast<std::uint8_t>(it->second.type)) +
                      " id " + std::to_string(it->first) + " unanswered after " + std::to_string(secs(now - it->second.sent)) + " s");
      std::erase(in_order_, it->first);
      it = outstanding_.erase(it);
    } else {
      ++it;
    }
  }
}

// The server closed the connection: after our BYE that is the plan; after an
// ERROR (slow reader) it is excused; otherwise a violation.
void Sim::server_closed(Clock::time_point now) {
  const bool planned = state_ == State::Ending;
  if (planned) {
    // Every non-SEND request was answered before the close.
    tally.check(kResponses, in_order_.empty(), "client " + std::to_string(id_) + ": closed with " +
                                                    std::to_string(in_order_.size()) + " requests unanswered");
  } else {
    tally.check(kResponses, slow_reader_ || state_ == State::Greeting,
                "client " + std::to_string(id_) + ": server closed the connection unasked");
  }
  end_session(now, planned ? "bye" : "closed-by-server");
}

void Sim::end_session(Clock::time_point now, const char* how) {
  if (id_ != 0) remove_live(id_);
  if (fd_ >= 0) {
    if (std::strcmp(how, "rst") == 0) {
      const linger l{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(fd_);
  }
  tally.op(std::string("end-") + how);
  fd_ = -1;
  id_ = 0;
  outstanding_.clear();
  in_order_.clear();
  state_ = State::Waiting;
  reconnect_at_ = now + Ms(rand_int(0, 500));
}

// ---------------------------------------------------------------------------
// The probe: its own connection and thread, TIME every 20 ms.

struct ProbeResult {
  std::vector<double> latency_ms;  // one per answered TIME
  long requests = 0, late = 0, failed = 0;
  double worst_ms = 0;
};

void run_probe(std::uint16_t port, const std::atomic<bool>& stop, ProbeResult& r) {
  std::string err;
  const int fd = sc::net::connect_tcp("127.0.0.1", std::to_string(port), 5000, err);
  if (fd < 0) {
    ++r.failed;
    return;
  }
  sc::net::set_nodelay(fd);
  sc::FrameDecoder dec(sc::Role::Client, sc::kMaxServerPayload);
  std::uint32_t id = 0;
  while (!stop.load()) {
    Bytes req;
    sc::put_frame(req, sc::Kind::Request, static_cast<std::uint8_t>(Type::Time), 0, ++id, {});
    const auto t0 = Clock::now();
    if (!sc::net::send_all(fd, req.data(), req.size(), 5000)) {
      ++r.failed;
      break;
    }
    bool answered = false;
    while (!answered && Clock::now() - t0 < Ms(5000)) {
      sc::Frame f;
      const sc::DecodeResult d = dec.next(f);
      if (d == sc::DecodeResult::Frame) {
        answered = f.header.kind == static_cast<std::uint8_t>(sc::Kind::Response) && f.header.id == id;
        continue;
      }
      if (d != sc::DecodeResult::NeedMore) break;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      auto space = dec.write_space(4096);
      const sc::net::IoResult io = sc::net::recv_some(fd, space.data(), space.size());
      dec.commit(io.status == sc::net::IoStatus::Ok ? io.bytes : 0);
      if (io.status == sc::net::IoStatus::Closed || io.status == sc::net::IoStatus::Error) break;
    }
    const double ms = secs(Clock::now() - t0) * 1000;
    ++r.requests;
    if (!answered) {
      ++r.failed;
      break;
    }
    r.latency_ms.push_back(ms);
    r.worst_ms = std::max(r.worst_ms, ms);
    if (ms > static_cast<double>(kProbeBound.count())) ++r.late;
    std::this_thread::sleep_for(Ms(20));
  }
  close(fd);
}

// ---------------------------------------------------------------------------

struct Config {
  std::string server;
  int seconds = 150;
  int clients = 200;
  std::uint64_t seed = 20260526;
};

bool parse_args(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    if (a == "--server") c.server = v;
    else if (a == "--seconds") c.seconds = std::stoi(v);
    else if (a == "--clients") c.clients = std::stoi(v);
    else if (a == "--seed") c.seed = std::stoull(v);
    else return false;
  }
  return !c.server.empty() && c.seconds > 0 && c.seconds <= 170 && c.clients > 0 && c.clients <= 1000;
}

// One poll() over every connected client.
void drive(Clock::time_point now, bool winding_down) {
  std::vector<pollfd> fds;
  std::vector<Sim*> who;
  for (auto& s : sims) {
    const short ev = s->events(now);
    if (s->fd() < 0 || ev == 0) continue;
    fds.push_back({s->fd(), ev, 0});
    who.push_back(s.get());
  }
  poll(fds.data(), fds.size(), 5);
  now = Clock::now();
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) who[i]->on_readable(now);
  }
  for (auto& s : sims) {
    s->act(now, winding_down);
    s->flush();
    s->check_overdue(now);
  }
}

// Every client runs sessions until `seconds` are up, then winds down: no
// new requests, pending SENDs and late ACKs settle, everyone says BYE and
// waits for the close.  Afterwards no client is connected.
void run_phase(std::uint16_t port, pid_t server, int seconds, long& peak_threads) {
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  auto next_sample = Clock::now();
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    for (auto& s : sims) {
      if (s->wants_reconnect(now)) s->connect_now(port, now);
    }
    drive(now, false);
    if (now >= next_sample) {
      if (auto u = sc::ftest::proc_threads(server)) peak_threads = std::max(peak_threads, *u);
      next_sample = now + Ms(500);
    }
  }
  const auto settle_end = Clock::now() + kSettleBound;
  for (auto now = Clock::now(); now < settle_end; now = Clock::now()) {
    bool pending = false;
    for (auto& s : sims) pending |= s->state() == Sim::State::Open && s->has_pending_sends();
    if (!pending) break;
    drive(now, true);
  }
  const auto bye_end = Clock::now() + Ms(10000);
  for (auto now = Clock::now(); now < bye_end; now = Clock::now()) {
    bool open = false;
    for (auto& s : sims) {
      s->begin_bye(now);  // once each, as soon as it is greeted
      open |= s->fd() >= 0;
    }
    if (!open) break;
    drive(now, true);
  }
  for (auto& s : sims) {
    if (!tally.check(kResponses, s->fd() < 0, "a client still open 10 s after its BYE")) s->abandon(Clock::now());
  }
}

// Waits (bounded) for the server's thread and fd counts to come back.
sc::ftest::ProcUsage settle(pid_t pid, long threads, long fds) {
  std::optional<sc::ftest::ProcUsage> u;
  for (int i = 0; i < 100; ++i) {
    u = sc::ftest::proc_usage(pid);
    if (u && u->threads <= threads && u->fds <= fds) break;
    std::this_thread::sleep_for(Ms(100));
  }
  if (!u) {
    std::fprintf(stderr, "sockchat-soak: the server is gone\n");
    std::exit(1);
  }
  return *u;
}

void check_probe(const ProbeResult& probe) {
  tally.check(kProbe, probe.failed == 0 && probe.requests > 0, "probe connection failed");
  for (std::size_t i = 0; i < probe.latency_ms.size(); ++i) {
    tally.check(kProbe, probe.latency_ms[i] <= static_cast<double>(kProbeBound.count()),
                "TIME #" + std::to_string(i + 1) + " took " + std::to_string(probe.latency_ms[i]) + " ms");
  }
}

// Against the level after a warm-up round (same clients, all gone again):
// threads and fds exactly, RSS within a small margin.  The cold level is
// no fair start for RSS: glibc keeps the stacks of joined threads in a
// cache and freed blocks in its per-thread arenas, so the first round of
// 200 threads raises RSS once, for good, without any leak.
void check_resources(const sc::ftest::ProcUsage& start, const sc::ftest::ProcUsage& after) {
  tally.check(kResources, after.threads <= start.threads,
              "threads " + std::to_string(start.threads) + " -> " + std::to_string(after.threads));
  tally.check(kResources, after.fds <= start.fds, "fds " + std::to_string(start.fds) + " -> " + std::to_string(after.fds));
  const long margin = 3072;  // kB; a leak of 50 bytes per message or 1.5 kB per connection exceeds it
  tally.check(kResources, after.rss_kb <= start.rss_kb + margin,
              "rss " + std::to_string(start.rss_kb) + " kB -> " + std::to_string(after.rss_kb) + " kB (margin " +
                  std::to_string(margin) + " kB)");
}

void stop_server(const ServerProc& server) {
  kill(server.pid, SIGTERM);
  int st = 0;
  pid_t r = 0;
  for (int i = 0; i < 200 && (r = waitpid(server.pid, &st, WNOHANG)) == 0; ++i) std::this_thread::sleep_for(Ms(50));
  if (r == 0) {
    kill(server.pid, SIGKILL);
    waitpid(server.pid, &st, 0);
  }
  tally.check(kExit, r == server.pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit after SIGTERM");
}

// Prints the figures and one line per invariant group; returns the number
// of groups that failed.
int report(double ran, const ProbeResult& probe) {
  long ops = 0, checks = 0;
  std::printf("soak: ran %.1f s; operations:\n", ran);
  for (const auto& [name, n] : tally.ops) {
    std::printf("  %-22s %ld\n", name.c_str(), n);
    ops += n;
  }
  std::printf("soak: %ld operations, %zu messages tracked; probe: %ld TIME requests, worst %.1f ms, %ld over %ld ms\n",
              ops, messages.size(), probe.requests, probe.worst_ms, probe.late,
              static_cast<long>(kProbeBound.count()));
  int failed = 0;
  for (int g = 0; g < kGroups; ++g) {
    checks += tally.checks[g];
    const bool ok = tally.failures[g] == 0;
    std::printf("soak: %-9s %s (%ld checks, %ld failed)\n", kGroupNames[g], ok ? "PASS" : "FAIL", tally.checks[g],
                tally.failures[g]);
    failed += ok ? 0 : 1;
  }
  std::printf("soak: %ld invariant checks in total\n", checks);
  return failed;
}

void print_usage(const char* when, const sc::ftest::ProcUsage& u) {
  std::printf("soak: server %-30s %s\n", when, sc::ftest::describe(u).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  if (!parse_args(argc, argv, cfg)) {
    std::fprintf(stderr, "usage: sockchat-soak --server PATH [--seconds 1..170] [--clients N] [--seed N]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  rng.seed(cfg.seed);
  ServerProc server = start_server(cfg.server);
  const sc::ftest::ProcUsage cold = settle(server.pid, 1, 1 << 20);
  std::printf("soak: seed %llu, %d clients, %d s, server pid %d port %u\n",
              static_cast<unsigned long long>(cfg.seed), cfg.clients, cfg.seconds, server.pid, server.port);
  print_usage("at start:", cold);

  for (int i = 0; i < cfg.clients; ++i) sims.push_back(std::make_unique<Sim>());
  long peak_threads = 0;
  const int warmup = std::min(10, std::max(1, cfg.seconds / 10));
  run_phase(server.port, server.pid, warmup, peak_threads);
  const sc::ftest::ProcUsage warm = settle(server.pid, cold.threads, cold.fds);
  print_usage(("after a " + std::to_string(warmup) + " s warm-up:").c_str(), warm);

  std::atomic<bool> stop_probe{false};
  ProbeResult probe;
  std::thread probe_thread(run_probe, server.port, std::cref(stop_probe), std::ref(probe));
  const auto t0 = Clock::now();
  run_phase(server.port, server.pid, cfg.seconds - warmup, peak_threads);
  stop_probe = true;
  probe_thread.join();
  const double ran = secs(Clock::now() - t0);
  check_probe(probe);

  const sc::ftest::ProcUsage after = settle(server.pid, warm.threads, warm.fds);
  print_usage("after everyone left:", after);
  std::printf("soak: server threads peak %ld\n", peak_threads);
  check_resources(warm, after);
  stop_server(server);

  const int failed = report(ran, probe);
  if (failed > 0) {
    const std::string log = server_log(server);
    std::printf("soak: server log (last 3000 bytes):\n%s\n", log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
  }
  const std::string rm = "rm -rf '" + server.dir + "'";
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "soak: could not remove %s\n", server.dir.c_str());
  std::printf("%d passed, %d failed\n", kGroups - failed, failed);
  return failed == 0 ? 0 : 1;
}
