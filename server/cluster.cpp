#include "server/cluster.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "common/net.hpp"
#include "server/connection.hpp"
#include "server/nick_policy.hpp"
#include "server/shared.hpp"

namespace sc::server {
namespace {

constexpr const char* kPresence = "sockchat:presence";
constexpr const char* kClients = "sockchat:clients";
// Client threads wait at most this long for the broker (one command); the
// cluster thread connects with the same bound.
constexpr timeval kCommandTimeout{0, 250'000};
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);

// Renews our liveness key if it is still ours (1); takes it back when it
// expired while we were frozen (2: the caller re-registers our clients);
// 0 when another process holds it.
constexpr const char* kRefreshScript = R"(
local v = redis.call('GET', ARGV[1])
if v == ARGV[2] then redis.call('EXPIRE', ARGV[1], ARGV[3]) return 1 end
if v then return 0 end
redis.call('SET', ARGV[1], ARGV[2], 'EX', ARGV[3])
redis.call('SADD', 'sockchat:nodes', ARGV[4])
return 2)";

// Gives the node id back at shutdown, only if it is still ours: a node
// frozen past its TTL may find another process holding it by then.  Our
// clients have left by now, but a LEFT that could not be published (the
// link was down) leaves its entry behind: each such one is removed here
// with LEFT SERVER_SHUTDOWN, so that no entry outlives its node.
constexpr const char* kReleaseScript = R"(
if redis.call('GET', ARGV[1]) ~= ARGV[2] then return 0 end
local set = ARGV[1] .. ':clients'
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local r = redis.call('HGET', 'sockchat:clients', id)
  if r then
    redis.call('HDEL', 'sockchat:clients', id)
    redis.call('PUBLISH', 'sockchat:presence', 'P\0' .. string.sub(r, 1, 9) .. '\2\5' .. string.sub(r, 10))
  end
end
redis.call('DEL', ARGV[1], set, ARGV[1] .. ':floor')
redis.call('SREM', 'sockchat:nodes', ARGV[3])
return 1)";

// One client's state: writes its record (ARGV[5]; empty for a LEFT) and
// publishes its event (ARGV[6]) together, so that a node reading the hash
// never misses the event of a change it lacks.  Only while the node id is
// this process's (ARGV[1] holds the token ARGV[2]), and only a state newer
// than our last re-register (ARGV[7], the sequence number, not below the
// floor it set): a write that a dropped connection delivers late (it sat
// in a socket buffer) must not undo a re-register.  1: written; 0: late,
// dropped; -1: the id is another process's; -2: our key expired (we were
// frozen): the caller keeps a LEFT for after re-registering.
constexpr const char* kPresenceScript = R"(
local v = redis.call('GET', ARGV[1])
if not v then return -2 end
if v ~= ARGV[2] then return -1 end
if tonumber(ARGV[7]) < tonumber(redis.call('GET', ARGV[1] .. ':floor') or '0') then return 0 end
local set = ARGV[1] .. ':clients'
if ARGV[5] == '' then
  redis.call('HDEL', 'sockchat:clients', ARGV[4])
  redis.call('SREM', set, ARGV[4])
else
  redis.call('HSET', 'sockchat:clients', ARGV[4], ARGV[5])
  redis.call('SADD', set, ARGV[4])
end
redis.call('SADD', 'sockchat:nodes', ARGV[3])
redis.call('PUBLISH', 'sockchat:presence', ARGV[6])
return 1)";

// Removes the clients of every node whose liveness key expired, with one
// LEFT NODE_DOWN each.  The script runs atomically and deletes what it
// announced, so however many nodes run it, each LEFT is published once.
constexpr const char* kReapScript = R"(
local n = 0
for _, node in ipairs(redis.call('SMEMBERS', 'sockchat:nodes')) do
  if redis.call('EXISTS', 'sockchat:node:' .. node) == 0 then
    local set = 'sockchat:node:' .. node .. ':clients'
    for _, id in ipairs(redis.call('SMEMBERS', set)) do
      local r = redis.call('HGET', 'sockchat:clients', id)
      if r then
        redis.call('HDEL', 'sockchat:clients', id)
        redis.call('PUBLISH', 'sockchat:presence', 'P\0' .. string.sub(r, 1, 9) .. '\2\6' .. string.sub(r, 10))
        n = n + 1
      end
    end
    redis.call('DEL', set, 'sockchat:node:' .. node .. ':floor')
    redis.call('SREM', 'sockchat:nodes', node)
  end
end
return n)";

// Makes Redis hold exactly our clients (ARGV[1] node, ARGV[2] the new
// sequence number in decimal, ARGV[3] and ARGV[4] our liveness key and
// token, then id/record pairs whose records carry that number): ids it
// held that are gone get LEFT (CLOSED) with their stored number (no
// replica holds a newer state), the others JOINED, which nodes that knew
// them already ignore.  The number becomes the floor below which
// kPresenceScript drops late writes.  After a reconnect, a frozen spell or
// a broker restart.
constexpr const char* kReregisterScript = R"(
if redis.call('GET', ARGV[3]) ~= ARGV[4] then return -1 end
redis.call('SET', ARGV[3] .. ':floor', ARGV[2])
local set = 'sockchat:node:' .. ARGV[1] .. ':clients'
local now = {}
for i = 5, #ARGV, 2 do now[ARGV[i]] = ARGV[i + 1] end
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  if not now[id] then
    local r = redis.call('HGET', 'sockchat:clients', id)
    redis.call('HDEL', 'sockchat:clients', id)
    redis.call('SREM', set, id)
    if r then
      redis.call('PUBLISH', 'sockchat:presence', 'P\0' .. string.sub(r, 1, 9) .. '\2\1' .. string.sub(r, 10))
    end
  end
end
for id, r in pairs(now) do
  redis.call('HSET', 'sockchat:clients', id, r)
  redis.call('SADD', set, id)
  redis.call('PUBLISH', 'sockchat:presence', 'P\0' .. string.sub(r, 1, 9) .. '\1\0' .. string.sub(r, 10))
end
redis.call('SADD', 'sockchat:nodes', ARGV[1])
return 1)";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

std::string_view as_view(const redisReply* r) { return {r->str, r->len}; }

std::string make_token() {
  char host[64] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}:{}", host, getpid(), realtime_us());
}

// AUTH on a fresh connection.  The password is never logged: a refusal is
// reported with Redis's own error text, which does not echo it.
bool authenticate(redisContext* c, const Options& o, const std::string& password, std::string& why) {
  if (password.empty()) return true;
  // Without a user, AUTH PASSWORD authenticates Redis's default user.
  std::vector<const char*> argv{"AUTH"};
  std::vector<std::size_t> lens{4};
  if (!o.redis_user.empty()) {
    argv.push_back(o.redis_user.c_str());
    lens.push_back(o.redis_user.size());
  }
  argv.push_back(password.c_str());
  lens.push_back(password.size());
  Reply r(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  if (r && r->type != REDIS_REPLY_ERROR) return true;
  why = r ? "Redis at " + o.cluster_url + " refused the password: " + std::string(as_view(r.get()))
          : "cannot reach the cluster's Redis at " + o.cluster_url + ": " + c->errstr;
  return false;
}

redisContext* connect_to(const Options& o, const std::string& password, std::string& why) {
  redisContext* c = o.redis_unix.empty()
                        ? redisConnectWithTimeout(o.redis_host.c_str(), o.redis_port, kCommandTimeout)
                        : redisConnectUnixWithTimeout(o.redis_unix.c_str(), kCommandTimeout);
  why = "cannot reach the cluster's Redis at " + o.cluster_url;
  if (c != nullptr && c->err == 0 && redisSetTimeout(c, kCommandTimeout) == REDIS_OK &&
      authenticate(c, o, password, why)) {
    return c;
  }
  if (c != nullptr) redisFree(c);
  return nullptr;
}

// --cluster-password-file: its first line, without the line end.
bool read_password(const std::string& path, std::string& password, std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read --cluster-password-file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::getline(in, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) why = "--cluster-password-file " + path + ": the first line is empty";
  return !password.empty();
}

std::string id_text(std::uint32_t id) { return std::to_string(id); }

std::uint32_t read_u32(std::string_view s, std::size_t at) {
  std::uint32_t be = 0;
  std::memcpy(&be, s.data() + at, sizeof be);
  return ntohl(be);
}

std::uint64_t read_u64(std::string_view s, std::size_t at) {
  return (std::uint64_t{read_u32(s, at)} << 32) | read_u32(s, at + 4);
}

// A client's "record" is what the hash holds for it and what each presence
// event about it carries before the PRESENCE payload: a head of u8 flags
// and u64 its node's sequence number, then (in the hash) the entry.  The
// sequence numbers let a node tell an old state from a new one whatever
// order a snapshot and the events reach it in (Registry::remote_upsert).
constexpr std::uint8_t kRecordAccount = 0x01;  // signed in: the nick is an account's
constexpr std::size_t kRecordHead = 9;

void put_record_head(Bytes& out, bool account, std::uint64_t seq) {
  out.push_back(account ? kRecordAccount : 0);
  put_u32(out, static_cast<std::uint32_t>(seq >> 32));
  put_u32(out, static_cast<std::uint32_t>(seq));
}

Bytes record_bytes(const Entry& e, bool account, std::uint64_t seq) {
  Bytes b;
  put_record_head(b, account, seq);
  put_entry(b, e);
  return b;
}

// The head of a record and a PRESENCE payload (event, reason, entry).
bool decode_event(std::string_view bytes, Registry::RemoteClient& c, Presence& p) {
  if (bytes.size() < kRecordHead) return false;
  c.account = (static_cast<std::uint8_t>(bytes[0]) & kRecordAccount) != 0;
  c.seq = read_u64(bytes, 1);
  const auto* body = reinterpret_cast<const std::uint8_t*>(bytes.data()) + kRecordHead;
  if (decode_presence(ByteView(body, bytes.size() - kRecordHead), p) != Status::Ok) return false;
  c.entry = p.entry;
  return true;
}

// A record as stored in the hash, decoded through the PRESENCE decoder.
bool decode_record(std::string_view bytes, Registry::RemoteClient& c) {
  if (bytes.size() < kRecordHead) return false;
  std::string event(bytes.substr(0, kRecordHead));
  event += std::string_view("\1\0", 2);
  event += bytes.substr(kRecordHead);
  Presence p;
  return decode_event(event, c, p);
}

std::string remote_key(const Entry& e) { return e.nick.empty() ? std::string() : nick_key(e.nick); }

}  // namespace

Cluster::Cluster(const Options& opts)
    : opts_(opts),
      node_(opts.node_id),
      key_(fmt::format("sockchat:node:{}", opts.node_id)),
      token_(make_token()),
      password_(opts.redis_password),
      seq_(static_cast<std::uint64_t>(realtime_us())),
      wake_fd_(net::make_wake_fd()),
      ids_key_(key_ + ":ids"),
      client_ids_(kClientIdBlock, [this] { want_ids_ahead(); }),
      message_ids_(kMessageIdBlock, [this] { want_ids_ahead(); }) {}

Cluster::~Cluster() {
  stop();
  if (cmd_ != nullptr) redisFree(cmd_);
  if (sub_ != nullptr) redisFree(sub_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::string Cluster::inbox(std::uint8_t node) const {
  return fmt::format("sockchat:node:{}:inbox", node);
}

bool Cluster::claim(std::string& why) {
  if (!opts_.redis_password_file.empty() && !read_password(opts_.redis_password_file, password_, why)) {
    return false;
  }
  if (wake_fd_ < 0) {
    why = "cannot make the cluster thread's wake-up descriptor";
    return false;
  }
  cmd_ = connect_to(opts_, password_, why);
  if (cmd_ == nullptr) return false;
  const std::string ttl = std::to_string(opts_.node_ttl_s);
  const char* argv[] = {"SET", key_.c_str(), token_.c_str(), "NX", "EX", ttl.c_str()};
  Reply r(static_cast<redisReply*>(redisCommandArgv(cmd_, 6, argv, nullptr)));
  if (!r || r->type == REDIS_REPLY_ERROR) {
    why = "Redis at " + opts_.cluster_url + " refused to register this node: " +
          (r ? std::string(as_view(r.get())) : std::string(cmd_->errstr));
    return false;
  }
  if (r->type == REDIS_REPLY_NIL) {
    why = fmt::format("node id {} is in use by another sockchatd (Redis key {} exists; a node that "
                      "died frees it within --node-ttl seconds)",
                      node_, key_);
    return false;
  }
  // Set first: should the ids fail, the id is given back at stop().
  claimed_ = true;
  if (!start_ids(why)) return false;
  up_ = true;
  return true;
}

bool Cluster::start(Shared& sh) {
  sh_ = &sh;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    spdlog::error("cannot start the cluster thread: {}", e.what());
    return false;
  }
  return true;
}

// Also after a start that failed once the id was claimed, so that a
// restart need not wait --node-ttl seconds for it.
void Cluster::stop() {
  if (thread_.joinable()) {
    stopping_ = true;
    net::signal_wake(wake_fd_);
    thread_.join();
  }
  std::lock_guard lock(cmd_mu_);
  if (!claimed_) return;
  claimed_ = false;
  if (cmd_ == nullptr || !up_) {
    // One more try: else the others learn that our clients left only when
    // our key expires (LEFT NODE_DOWN, --node-ttl seconds from now).
    if (cmd_ != nullptr) redisFree(cmd_);
    std::string why;
    cmd_ = connect_to(opts_, password_, why);
    if (cmd_ == nullptr) {
      spdlog::warn("cluster: {}; the other nodes will drop our clients within --node-ttl", why);
      return;
    }
  }
  // Our clients are gone: announce the departures the link missed, then
  // give the node id back.
  up_ = true;  // for write_presence_locked(); nothing else runs now
  std::vector<Unsent> unsent;
  {
    std::lock_guard keep(unsent_mu_);
    unsent = take_unsent_locked();
  }
  send_unsent_locked(std::move(unsent));
  const std::string node = std::to_string(node_);
  Reply(static_cast<redisReply*>(
      redisCommand(cmd_, "EVAL %s 0 %s %s %s", kReleaseScript, key_.c_str(), token_.c_str(), node.c_str())));
}

// ---------------------------------------------------------------------------
// Client threads.

void Cluster::link_lost(const char* what, const redisContext* c) {
  if (up_.exchange(false)) {
    spdlog::warn("cluster link down ({}: {}); remote clients unreachable until it is back", what,
                 c != nullptr && c->errstr[0] != '\0' ? c->errstr : "no connection");
    net::signal_wake(wake_fd_);
  }
}

redisReply* Cluster::command_locked(int argc, const char** argv, const std::size_t* lens) {
  if (cmd_ == nullptr || !up_) return nullptr;
  auto* r = static_cast<redisReply*>(redisCommandArgv(cmd_, argc, argv, lens));
  if (r == nullptr) link_lost("command", cmd_);
  return r;
}

// For the cluster thread's own commands: an error reply (LOADING while a
// restarted Redis reads its data, OOM, an ACL) counts as a failed link, so
// that the reconnect loop tries the whole sequence again with backoff
// rather than leave the node looking up with its clients unregistered.
// `items` sizes the timeout: a script over many clients takes Redis longer
// than the client threads' 250 ms, and timing it out would only make the
// node reconnect and run it again.
redisReply* Cluster::checked_locked(const char* what, std::size_t items, const std::vector<const char*>& argv,
                                    const std::vector<std::size_t>& lens) {
  if (cmd_ == nullptr || !up_) return nullptr;
  const auto extra = std::chrono::microseconds(20) * static_cast<std::int64_t>(std::min<std::size_t>(items, 500'000));
  const bool slow = extra > std::chrono::microseconds(0);
  if (slow) {
    const auto us = std::chrono::microseconds(kCommandTimeout.tv_usec) + extra;
    redisSetTimeout(cmd_, timeval{static_cast<time_t>(us.count() / 1'000'000),
                                  static_cast<suseconds_t>(us.count() % 1'000'000)});
  }
  // hiredis 0.14 takes `const char**` but does not write through it.
  Reply r(static_cast<redisReply*>(redisCommandArgv(cmd_, static_cast<int>(argv.size()),
                                                    const_cast<const char**>(argv.data()),
                                                    lens.empty() ? nullptr : lens.data())));
  if (slow && r) redisSetTimeout(cmd_, kCommandTimeout);
  if (!r) {
    link_lost(what, cmd_);
    return nullptr;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    if (up_.exchange(false)) {
      spdlog::warn("cluster link down ({}: Redis answered {}); retrying", what, as_view(r.get()));
      net::signal_wake(wake_fd_);
    }
    return nullptr;
  }
  return r.release();
}

// Another process took our node id (we were frozen past the TTL and an
// operator started a replacement): two processes must never serve one
// id, so this one stops, as a second process does at start (exit 1).
void Cluster::lose_id() {
  if (lost_id_.exchange(true)) return;
  spdlog::error("cluster: another process holds node id {} (Redis key {}); stopping: two nodes with "
                "one id would hand out the same client ids",
                node_, key_);
  kill(getpid(), SIGTERM);
}

long long Cluster::publish(const std::string& channel, const Bytes& message) {
  // With the link down, fail at once rather than wait behind the cluster
  // thread's reconnect for the lock.
  if (!up_) return -1;
  return publishes_.publish(channel, message);
}

// The leader of a group commit (server/publish_batch.hpp): every command
// of the batch written at once and the replies read in order, all under
// cmd_mu_, so that no other command (a presence script, the cluster
// thread's) comes between them.  One batch costs one round trip and waits
// at most about one command timeout: the replies come together.
void Cluster::publish_batch(std::span<Publish* const> batch) {
  if (!up_) return;  // went down while this batch queued: all fail at once
  std::lock_guard lock(cmd_mu_);
  if (cmd_ == nullptr || !up_) return;
  for (Publish* p : batch) {
    const char* argv[] = {"PUBLISH", p->channel.data(), reinterpret_cast<const char*>(p->message.data())};
    const std::size_t lens[] = {7, p->channel.size(), p->message.size()};
    // Fails only out of memory, which leaves the context unusable.
    if (redisAppendCommandArgv(cmd_, 3, argv, lens) != REDIS_OK) {
      link_lost("publish", cmd_);
      return;
    }
  }
  for (Publish* p : batch) {
    void* raw = nullptr;
    if (redisGetReply(cmd_, &raw) != REDIS_OK) {
      link_lost("publish", cmd_);
      return;
    }
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_INTEGER) p->receivers = r->integer;
  }
}

// `with_lock` runs first, under the same lock (see the header).  With the
// link down, no wait for cmd_mu_: the removal and the keeping of the LEFT
// go together under unsent_mu_, which reregister() holds while it takes
// the kept LEFTs and the snapshot, so a leaving client is either in the
// snapshot or has its LEFT sent first, never neither.
void Cluster::presence(PresenceEvent event, LeaveReason reason, const Entry& entry, bool account,
                       const std::function<void()>& with_lock) {
  if (!up_) {
    std::lock_guard lock(unsent_mu_);
    if (with_lock) with_lock();
    if (event == PresenceEvent::Left) keep_unsent_locked({entry, account, reason});
    return;
  }
  std::lock_guard lock(cmd_mu_);
  if (with_lock) with_lock();
  std::vector<Unsent> one{{entry, account, reason}};
  if (write_presence_locked(event, one) == 1 || event != PresenceEvent::Left) return;
  std::lock_guard keep(unsent_mu_);
  keep_unsent_locked(one.front());
}

// Runs kPresenceScript for each of `states` (pipelined: one round trip for
// a batch); returns how many of them are done (written, or dropped as
// late), from the front.  A LEFT not done is the caller's to keep.
std::size_t Cluster::write_presence_locked(PresenceEvent event, const std::vector<Unsent>& states) {
  if (cmd_ == nullptr || !up_) return 0;
  const std::string node = std::to_string(node_);
  for (const Unsent& u : states) {
    const std::uint64_t seq = ++seq_;
    Bytes msg{'P', node_};
    put_record_head(msg, u.account, seq);
    put_presence(msg, Presence{event, event == PresenceEvent::Left ? u.reason : LeaveReason::Bye, u.entry});
    const Bytes record = event == PresenceEvent::Left ? Bytes{} : record_bytes(u.entry, u.account, seq);
    const std::string id = id_text(u.entry.id), seq_text = std::to_string(seq);
    const char* argv[] = {"EVAL",         kPresenceScript, "0",
                          key_.c_str(),   token_.c_str(),  node.c_str(),
                          id.c_str(),     reinterpret_cast<const char*>(record.data()),
                          reinterpret_cast<const char*>(msg.data()), seq_text.c_str()};
    const std::size_t lens[] = {4, std::strlen(kPresenceScript), 1, key_.size(), token_.size(), node.size(),
                                id.size(), record.size(), msg.size(), seq_text.size()};
    redisAppendCommandArgv(cmd_, 10, argv, lens);
  }
  std::size_t done = 0;
  bool ok = true;
  for (std::size_t i = 0; i < states.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(cmd_, &raw) != REDIS_OK) {
      link_lost("presence", cmd_);
      return done;
    }
    Reply r(static_cast<redisReply*>(raw));
    const long long result = r->type == REDIS_REPLY_INTEGER ? r->integer : -3;
    if (result == -1) lose_id();
    if (result == -3 && ok) {
      spdlog::warn("cluster: presence write refused: {}",
                   r->type == REDIS_REPLY_ERROR ? as_view(r.get()) : std::string_view("an unexpected reply"));
    }
    ok = ok && (result == 1 || result == 0);
    if (ok) ++done;
  }
  if (!ok && up_.exchange(false)) net::signal_wake(wake_fd_);  // retried after reconnecting
  return done;
}

// Bounded: a link down for long under heavy churn must not grow without
// end; what does not fit is left to re-registering (LEFT CLOSED).
void Cluster::keep_unsent_locked(const Unsent& u) {
  constexpr std::size_t kMaxUnsent = 65536;
  if (unsent_.size() < kMaxUnsent) {
    unsent_.push_back(u);
  } else {
    ++unsent_dropped_;
  }
}

// Taken under unsent_mu_, sent under cmd_mu_ only.
std::vector<Cluster::Unsent> Cluster::take_unsent_locked() {
  if (unsent_dropped_ > 0) {
    spdlog::warn("cluster: {} departures of our clients while the link was down are announced as "
                 "CLOSED, not with their own reasons",
                 unsent_dropped_);
    unsent_dropped_ = 0;
  }
  std::vector<Unsent> taken;
  taken.swap(unsent_);
  return taken;
}

// Before re-registering and on every tick, in batches of one round trip
// each; what the link fails to take is kept, in order, for the next time.
// A LEFT for a client the others never heard of changes nothing for them.
void Cluster::send_unsent_locked(std::vector<Unsent> unsent) {
  constexpr std::size_t kBatch = 256;
  std::size_t sent = 0;
  while (sent < unsent.size()) {
    const auto from = unsent.begin() + static_cast<std::ptrdiff_t>(sent);
    const std::vector<Unsent> batch(from, from + static_cast<std::ptrdiff_t>(std::min(kBatch, unsent.size() - sent)));
    const std::size_t done = write_presence_locked(PresenceEvent::Left, batch);
    sent += done;
    if (done < batch.size()) break;
  }
  if (sent == unsent.size()) return;
  std::lock_guard lock(unsent_mu_);
  unsent_.insert(unsent_.begin(), unsent.begin() + static_cast<std::ptrdiff_t>(sent), unsent.end());
}

bool Cluster::forward(std::uint32_t target, ByteView frame) {
  Bytes msg{'M'};
  put_u32(msg, target);
  msg.insert(msg.end(), frame.begin(), frame.end());
  return publish(inbox(static_cast<std::uint8_t>(target >> 24)), msg) > 0;
}

void Cluster::acked(std::uint32_t sender, std::uint32_t message_id) {
  Bytes msg{'A'};
  put_u32(msg, message_id);
  publish(inbox(static_cast<std::uint8_t>(sender >> 24)), msg);
}

void Cluster::failed(std::uint32_t sender, std::uint32_t message_id, std::string_view why) {
  Bytes msg{'F'};
  put_u32(msg, message_id);
  msg.insert(msg.end(), why.begin(), why.end());
  publish(inbox(static_cast<std::uint8_t>(sender >> 24)), msg);
}

// ---------------------------------------------------------------------------
// The cluster thread.

void Cluster::run() {
  if (!connect_all()) {
    link_lost("connect", nullptr);  // claim() had it up: say it is not
    disconnect_all();
  }
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    if (sub_ == nullptr || !up_) {
      disconnect_all();
      if (!connect_all()) {
        pollfd p{wake_fd_, POLLIN, 0};
        poll(&p, 1, static_cast<int>(backoff_.count()));
        net::drain_wake(wake_fd_);
        backoff_ = std::min(backoff_ * 2, kMaxBackoff);
        continue;
      }
    }
    if (now >= next_tick_) tick(now);
    if (ids_wanted_.load(std::memory_order_relaxed)) keep_ids_ahead();
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_tick_ - Clock::now());
    pollfd fds[2] = {{sub_->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    poll(fds, 2, static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 1000)));
    if (fds[1].revents != 0) net::drain_wake(wake_fd_);
    if (fds[0].revents != 0) read_subscription();
  }
}

bool Cluster::connect_all() {
  std::string why;
  redisContext* sub = connect_to(opts_, password_, why);
  if (sub == nullptr) return connect_failed(why);
  const std::string mine = inbox(node_);
  // Both channels' confirmations: an error for either (NOAUTH, an ACL)
  // would leave the node deaf to presence or to its inbox while it looks up.
  Reply r(static_cast<redisReply*>(redisCommand(sub, "SUBSCRIBE %s %s", kPresence, mine.c_str())));
  for (int channel = 0; channel < 2; ++channel) {
    if (channel == 1) {
      void* raw = nullptr;
      r.reset(redisGetReply(sub, &raw) == REDIS_OK ? static_cast<redisReply*>(raw) : nullptr);
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING || as_view(r->element[0]) != "subscribe") {
      if (r && r->type == REDIS_REPLY_ERROR) spdlog::error("cluster: SUBSCRIBE refused: {}", as_view(r.get()));
      redisFree(sub);
      return false;
    }
  }
  sub_ = sub;
  {
    std::lock_guard lock(cmd_mu_);
    if (cmd_ == nullptr) cmd_ = connect_to(opts_, password_, why);
    if (cmd_ == nullptr) return connect_failed(why);
  }
  connect_error_.clear();
  const bool was_up = up_.exchange(true);
  after_connect();
  if (!up_) return false;
  if (!was_up) spdlog::info("cluster link up: node {} through {}", node_, opts_.cluster_url);
  backoff_ = std::chrono::milliseconds(100);
  drain_subscription();  // what came with the confirmation is already buffered
  return true;
}

// Says why reconnecting fails (a refused password, say) once, not on
// every backoff step.
bool Cluster::connect_failed(const std::string& why) {
  if (why != connect_error_) spdlog::warn("cluster: {}; retrying", why);
  connect_error_ = why;
  return false;
}

void Cluster::disconnect_all() {
  if (sub_ != nullptr) redisFree(sub_);
  sub_ = nullptr;
  std::lock_guard lock(cmd_mu_);
  if (cmd_ != nullptr) redisFree(cmd_);
  cmd_ = nullptr;
}

// Subscribed first, then the state read: an event published in between is
// both in the snapshot and queued on the subscription, and applying it
// twice changes nothing.  Removals wait for a second look a TTL and more later,
// so that a broker restarted empty does not make every other node's
// clients leave and come back while those nodes re-register.
void Cluster::after_connect() {
  if (refresh() < 1) return;  // the link failed, or the id is another process's
  keep_ids_ahead();  // a broker restarted empty lost the reservation
  reregister();
  sync(false);
  full_sync_due_ = true;
  // Every live node is back by then: its key has not expired (the TTL), and
  // it reconnects within its longest backoff and a timed-out try.
  full_sync_at_ = Clock::now() + std::chrono::seconds(opts_.node_ttl_s) + kMaxBackoff +
                  2 * std::chrono::microseconds(kCommandTimeout.tv_usec);
  next_tick_ = Clock::now() + std::chrono::milliseconds(opts_.node_ttl_s * 1000 / 3);
}

// A third of the TTL: two refreshes may fail before the key expires.
void Cluster::tick(Clock::time_point now) {
  next_tick_ = now + std::chrono::milliseconds(opts_.node_ttl_s * 1000 / 3);
  const int ours = refresh();
  if (ours == 2) reregister();
  if (ours >= 1) {
    keep_ids_ahead();
    // A departure that saw the link down while it was coming back up.
    std::lock_guard lock(cmd_mu_);
    std::vector<Unsent> unsent;
    {
      std::lock_guard keep(unsent_mu_);
      unsent = take_unsent_locked();
    }
    if (!unsent.empty()) send_unsent_locked(std::move(unsent));
  }
  reap();
  if (full_sync_due_ && now >= full_sync_at_) {
    full_sync_due_ = false;
    sync(true);
  }
  while (!inbound_.empty() && inbound_.front().deadline <= now) {
    // The sender's node has timed out by now; forget the entry so that it
    // stops counting against our client's unacknowledged bytes.
    sh_->deliveries.take(inbound_.front().message_id);
    inbound_.pop_front();
  }
}

// 1: the id is ours; 2: it is ours again after it expired (the caller
// re-registers); 0: another process holds it; -1: the link failed.
int Cluster::refresh() {
  const std::string ttl = std::to_string(opts_.node_ttl_s), node = std::to_string(node_);
  const char* argv[] = {"EVAL", kRefreshScript, "0", key_.c_str(), token_.c_str(), ttl.c_str(),
                        node.c_str()};
  long long result = -1;
  {
    std::lock_guard lock(cmd_mu_);
    Reply r(checked_locked("refresh", 0, {std::begin(argv), std::end(argv)}, {}));
    if (r && r->type == REDIS_REPLY_INTEGER) result = r->integer;
  }
  if (result == 0) lose_id();
  if (result == 2) {
    spdlog::warn("cluster: our liveness key {} had expired (frozen longer than --node-ttl?); "
                 "registering our clients again",
                 key_);
  }
  return result == 1 || result == 2 ? static_cast<int>(result) : result == 0 ? 0 : -1;
}

void Cluster::reap() {
  const char* argv[] = {"EVAL", kReapScript, "0"};
  // A dead node's clients are at most what our replica holds.
  const std::size_t items = sh_->registry.remote_count();
  std::lock_guard lock(cmd_mu_);
  Reply r(checked_locked("reap", items, {std::begin(argv), std::end(argv)}, {}));
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
    spdlog::info("cluster: {} client(s) of dead nodes removed", r->integer);
  }
}

// The snapshot of our clients is taken under cmd_mu_, which every
// presence() with the link up takes, and under unsent_mu_, which one with
// the link down takes: a client that joins or leaves meanwhile is either
// in the snapshot or announced after the script, and the LEFTs kept while
// the link was down go first, with their own reasons.
void Cluster::reregister() {
  std::lock_guard lock(cmd_mu_);
  std::vector<Unsent> unsent;
  std::vector<Registry::LocalClient> clients;
  {
    std::lock_guard keep(unsent_mu_);
    unsent = take_unsent_locked();
    clients = sh_->registry.local_entries();
  }
  send_unsent_locked(std::move(unsent));
  const std::uint64_t seq = ++seq_;
  std::vector<std::string> args = {"EVAL", kReregisterScript, "0", std::to_string(node_),
                                   std::to_string(seq), key_, token_};
  for (const Registry::LocalClient& c : clients) {
    const Bytes b = record_bytes(c.entry, c.account, seq);
    args.push_back(id_text(c.entry.id));
    args.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  Reply r(checked_locked("re-register", clients.size(), argv, lens));
  if (r && r->type == REDIS_REPLY_INTEGER && r->integer == -1) lose_id();
}

// Rebuilds the replica from the hash; subscribers hear only the changes.
// An entry the hash lacks may have a LEFT still on its way to us, which
// must win (it has the real reason): so removals wait for a marker that
// we publish to our own inbox right after reading the hash.  Redis sends a
// subscriber its messages in the order it ran the PUBLISHes, so when the
// marker arrives every event published before the read has been applied.
void Cluster::sync(bool removals) {
  Reply r;
  const std::uint64_t marker = ++sweep_marker_;
  {
    std::lock_guard lock(cmd_mu_);
    const char* argv[] = {"HGETALL", kClients};
    r.reset(checked_locked("read the clients", sh_->registry.size() + sh_->registry.remote_count(),
                           {std::begin(argv), std::end(argv)}, {}));
    if (removals && r && r->type == REDIS_REPLY_ARRAY) {
      Bytes msg{'S'};
      put_record_head(msg, false, marker);
      const std::string mine = inbox(node_);
      const char* pub[] = {"PUBLISH", mine.c_str(), reinterpret_cast<const char*>(msg.data())};
      const std::size_t lens[] = {7, mine.size(), msg.size()};
      Reply(command_locked(3, pub, lens));
    }
  }
  if (!r || r->type != REDIS_REPLY_ARRAY) return;
  std::map<std::uint32_t, Registry::RemoteClient> seen;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    Registry::RemoteClient c;
    if (!decode_record(as_view(r->element[i + 1]), c) || is_local(c.entry.id)) continue;
    seen.emplace(c.entry.id, std::move(c));
  }
  for (const auto& [id, c] : seen) {
    PresenceEvent event{};
    if (sh_->registry.remote_upsert(c, remote_key(c.entry), event)) {
      sh_->registry.publish_entry(event, LeaveReason::Bye, c.entry);
    }
  }
  if (!removals) return;
  sweep_.clear();
  for (const auto& [id, c] : sh_->registry.remote_entries()) {
    if (!seen.contains(id)) sweep_.emplace(id, c.seq);
  }
}

// Our marker: what the hash lacked and no event has touched since is gone
// without a word (its LEFT was lost while we were away, or a broker
// restarted empty and its node never came back): NODE_DOWN.
void Cluster::sweep(std::uint64_t marker) {
  if (marker != sweep_marker_) return;
  for (const auto& [id, seq] : sweep_) {
    Entry gone;
    if (sh_->registry.remote_remove(id, seq, gone)) remote_left(gone, LeaveReason::NodeDown);
  }
  sweep_.clear();
}

// Only when poll() said readable: the socket blocks (up to the timeout).
void Cluster::read_subscription() {
  if (redisBufferRead(sub_) != REDIS_OK) {
    link_lost("subscription", sub_);
    return;
  }
  drain_subscription();
}

void Cluster::drain_subscription() {
  for (;;) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(sub_, &raw) != REDIS_OK) {
      link_lost("subscription", sub_);
      return;
    }
    if (raw == nullptr) return;
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        as_view(r->element[0]) == "message") {
      on_message(as_view(r->element[1]), as_view(r->element[2]));
    }
  }
}

void Cluster::on_message(std::string_view channel, std::string_view payload) {
  if (payload.empty()) return;
  if (channel == kPresence) {
    on_presence(payload);
  } else {
    on_inbox(payload);
  }
}

// Events about our own clients (ours, or a reaper's about us while we were
// frozen) are not for the replica.
void Cluster::on_presence(std::string_view payload) {
  Registry::RemoteClient c;
  Presence p;
  if (payload.size() < 2 || payload[0] != 'P') return;
  if (!decode_event(payload.substr(2), c, p)) {
    // A LEFT this version cannot read whole (a reason code of a newer one,
    // during a rolling upgrade) still removes its client, by id: else it
    // would stay listed here for good.
    constexpr std::size_t kIdAt = 2 + kRecordHead + 2;
    if (payload.size() < kIdAt + 4 || payload[2 + kRecordHead] != static_cast<char>(PresenceEvent::Left)) return;
    c.seq = read_u64(payload, 3);
    c.entry.id = read_u32(payload, kIdAt);
    p.event = PresenceEvent::Left;
    p.reason = LeaveReason::Closed;
  }
  if (is_local(c.entry.id)) return;
  if (p.event == PresenceEvent::Left) {
    Entry gone;
    if (sh_->registry.remote_remove(c.entry.id, c.seq, gone)) remote_left(gone, p.reason);
    return;
  }
  PresenceEvent event{};
  if (sh_->registry.remote_upsert(c, remote_key(c.entry), event)) {
    sh_->registry.publish_entry(event, LeaveReason::Bye, c.entry);
  }
}

// Our SENDs to a client that left fail now rather than at their deadline.
void Cluster::remote_left(const Entry& gone, LeaveReason reason) {
  sh_->registry.publish_entry(PresenceEvent::Left, reason, gone);
  const std::string why = fmt::format("client {} left before acknowledging", gone.id);
  for (const Pending& p : sh_->deliveries.take_all_for(gone.id)) settle_failed(*sh_, p, why);
}

void Cluster::on_inbox(std::string_view payload) {
  if (payload[0] == 'S' && payload.size() == kRecordHead + 1) {
    sweep(read_u64(payload, 2));
    return;
  }
  if (payload.size() < 5) return;
  const std::uint32_t n = read_u32(payload, 1);
  switch (payload[0]) {
    case 'M':
      if (payload.size() >= 5 + kHeaderSize) {
        deliver(n, ByteView(reinterpret_cast<const std::uint8_t*>(payload.data()) + 5,
                            payload.size() - 5));
      }
      return;
    case 'A': settle(n, true, {}); return;
    case 'F': {
      // The text goes to our client in its NOT_DELIVERED answer: only a
      // sane one from another node (a forged payload gets the plain words).
      constexpr std::size_t kMaxWhy = 1024;
      const std::string_view why = payload.substr(5);
      settle(n, false, why.size() <= kMaxWhy && valid_utf8(why) ? why : std::string_view());
      return;
    }
    default: return;
  }
}

// The bytes another node publishes go to a client as they are: exactly
// one well-formed MESSAGE indication, or nothing (a forged or damaged
// payload must not make our client drop its connection).
namespace {

bool valid_message_frame(ByteView frame) {
  FrameDecoder d(Role::Client, kMaxServerPayload);
  d.feed(frame);
  Frame f;
  Message m;
  return d.next(f) == DecodeResult::Frame && d.pending() == 0 &&
         f.header.kind == static_cast<std::uint8_t>(Kind::Indication) &&
         f.header.type == static_cast<std::uint8_t>(Type::Message) && decode_message(f.payload, m) == Status::Ok;
}

}  // namespace

// A MESSAGE from another node for our client `target`: recorded like a
// local SEND's (so its ACK, or its departure, settles it), then posted.
void Cluster::deliver(std::uint32_t target, ByteView frame) {
  const std::string_view f(reinterpret_cast<const char*>(frame.data()), frame.size());
  if (f.size() < kHeaderSize + 4 || read_u32(f, 12) != f.size() - kHeaderSize || !valid_message_frame(frame)) {
    spdlog::warn("cluster: a malformed MESSAGE for client {} from another node was dropped", target);
    return;
  }
  const std::uint32_t message_id = read_u32(f, 8);
  const std::uint32_t sender = read_u32(f, kHeaderSize);
  if ((message_id >> 24) != (sender >> 24) || is_local(sender)) return;  // not what a node sends
  const std::shared_ptr<Peer> peer = sh_->registry.find(target);
  if (!peer) {
    failed(sender, message_id, fmt::format("client {} left before acknowledging", target));
    return;
  }
  const Clock::time_point now = Clock::now();
  // One second beyond the sender's deadline: its node gives up first.
  const Pending p{message_id, sender, 0, target,
                  now + std::chrono::seconds(opts_.delivery_timeout_s + 1),
                  static_cast<std::uint32_t>(frame.size())};
  if (const auto busy = sh_->deliveries.add_within(p, opts_.max_unacked)) {
    failed(sender, message_id,
           fmt::format("client {} is busy: {} bytes of messages await its acknowledgement", target,
                       *busy));
    return;
  }
  if (!peer->post(frame)) {
    if (sh_->deliveries.take(message_id)) {
      failed(sender, message_id, fmt::format("client {} left before acknowledging", target));
    }
    return;
  }
  inbound_.push_back({p.deadline, message_id});
}

// The answer to one of our SENDs to another node's client.
void Cluster::settle(std::uint32_t message_id, bool ok, std::string_view why) {
  if (!is_local(message_id)) return;
  const std::optional<Pending> p = sh_->deliveries.take(message_id);
  if (!p) return;  // timed out meanwhile
  if (ok) {
    settle_ok(*sh_, *p);
  } else {
    settle_failed(*sh_, *p, why.empty() ? std::string_view("not delivered") : why);
  }
}

// ---------------------------------------------------------------------------
// Ids that survive a restart (sockchatd(8) CLUSTER, "Ids").

namespace {

// ARGV: the ids hash, the client block, the message block, and the floor
// key of a run before ours, which it deletes (our sequence numbers start
// from the clock, which may have stepped back).  Returns the
// two counters' start values (absent or damaged: 1) and moves each a block
// on, wrapping as id_advance() does (1..16777215, never 0).  One script:
// one round trip, and each field's read and write go together.
constexpr const char* kStartIdsScript = R"(
local function start(field, block)
  local v = tonumber(redis.call('HGET', ARGV[1], field))
  if not v or v < 1 or v > 16777215 or v % 1 ~= 0 then v = 1 end
  redis.call('HSET', ARGV[1], field, (v - 1 + block) % 16777215 + 1)
  return v
end
redis.call('DEL', ARGV[4])
return {start('client', tonumber(ARGV[2])), start('message', tonumber(ARGV[3]))})";

// ARGV: our liveness key, our token, the ids hash, the client and message
// values.  Writes only while the node id is ours (1): a process that lost
// its id to another must not move that one's reservation.
constexpr const char* kKeepIdsScript = R"(
if redis.call('GET', ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', ARGV[3], 'client', ARGV[4], 'message', ARGV[5])
return 1)";

bool counter_reply(const redisReply* r) {
  return r->type == REDIS_REPLY_INTEGER && is_counter_value(r->integer);
}

}  // namespace

// In claim(), right after the SET NX made the node id ours, before any
// other thread runs: this run counts from where the last one reserved.
bool Cluster::start_ids(std::string& why) {
  const std::string clients = std::to_string(kClientIdBlock), messages = std::to_string(kMessageIdBlock);
  const std::string floor = key_ + ":floor";
  const char* argv[] = {"EVAL",         kStartIdsScript,  "0", ids_key_.c_str(), clients.c_str(),
                        messages.c_str(), floor.c_str()};
  Reply r(static_cast<redisReply*>(redisCommandArgv(cmd_, 7, argv, nullptr)));
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !counter_reply(r->element[0]) ||
      !counter_reply(r->element[1])) {
    why = "Redis at " + opts_.cluster_url + " did not give this node its ids (" + ids_key_ + "): " +
          (!r ? std::string(cmd_->errstr)
              : r->type == REDIS_REPLY_ERROR ? std::string(as_view(r.get())) : std::string("a malformed reply"));
    return false;
  }
  const auto client = static_cast<std::uint32_t>(r->element[0]->integer);
  const auto message = static_cast<std::uint32_t>(r->element[1]->integer);
  client_ids_.start(client);
  message_ids_.start(message);
  spdlog::info("cluster: this run of node {} counts ids from {} (clients) and {} (messages), {}", node_,
               client, message, ids_key_);
  return true;
}

// Cluster thread: the reservation a block beyond what was handed out, on
// every tick (after refresh() found the id ours), after every reconnect,
// and when a counter used half its block.  Writing every tick, not only
// near the end, also restores the hash after a broker restarted empty.
// A failed write is left to the next tick or reconnect; meanwhile the
// counters go on (a crash then may reuse ids: the documented hole).
void Cluster::keep_ids_ahead() {
  ids_wanted_.store(false, std::memory_order_relaxed);
  const std::uint32_t clients = client_ids_.next(), messages = message_ids_.next();
  const std::string c = std::to_string(client_ids_.reserve_from(clients));
  const std::string m = std::to_string(message_ids_.reserve_from(messages));
  const char* argv[] = {"EVAL", kKeepIdsScript, "0", key_.c_str(), token_.c_str(),
                        ids_key_.c_str(), c.c_str(), m.c_str()};
  long long result = -1;
  std::string error;
  {
    std::lock_guard lock(cmd_mu_);
    Reply r(command_locked(8, argv, nullptr));
    if (r && r->type == REDIS_REPLY_INTEGER) result = r->integer;
    if (r && r->type == REDIS_REPLY_ERROR) error = as_view(r.get());
  }
  if (!error.empty()) spdlog::error("cluster: cannot write {}: {}", ids_key_, error);
  if (result != 1) return;
  client_ids_.mark(clients);
  message_ids_.mark(messages);
}

// Any thread (IdCounter::take()): never waits for Redis, only wakes the
// cluster thread, which writes before its next tick.
void Cluster::want_ids_ahead() {
  ids_wanted_.store(true, std::memory_order_relaxed);
  net::signal_wake(wake_fd_);
}

}  // namespace sc::server
