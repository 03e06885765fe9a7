// Several sockchatd nodes as one server, through Redis (--cluster).
//
// Keys (one Redis, no Redis Cluster):
//   sockchat:node:N            liveness: a token of the process, EX --node-ttl;
//                              SET NX at start, so two processes cannot share N
//   sockchat:nodes             set of node ids that registered
//   sockchat:node:N:clients    set of node N's client ids (decimal)
//   sockchat:clients           hash: client id -> its record: u8 flags
//                              (0x01: signed in), u64 sequence number, the
//                              `entry` bytes
//   sockchat:node:N:ids        hash: `client`, `message`: the low-24-bit
//                              counter values node N's next run starts
//                              from; written only by the holder of
//                              sockchat:node:N, never deleted
// Channels:
//   sockchat:presence          'P', u8 origin node (0: a script), the
//                              record's flags and sequence number, then a
//                              PRESENCE payload (event, reason, entry)
//   sockchat:node:N:inbox      to node N: 'M' u32 target + a whole MESSAGE
//                              frame; 'A' u32 message id (the target ACKed);
//                              'F' u32 message id + text (it never will);
//                              'S' u8 0 + u64, node N's own sync marker
//
// Sequence numbers: a node numbers the states of its clients it publishes
// (from the clock at start, then +1 under cmd_mu_), and the scripts reuse
// a client's stored number for its LEFT; a replica ignores a state older
// than the one it holds, so a snapshot read after a reconnect and the
// events queued behind it can be applied in either order.
//
// Ids: node id in the high 8 bits, a per-node counter in the low 24
// (server/ids.hpp), so neither client nor message ids need a round trip.
// The counters survive a restart through sockchat:node:N:ids: claim()
// starts them there and moves the hash a block ahead; the cluster thread
// keeps it a block ahead of what was handed out (every tick, after every
// reconnect, and when half a block is used: take() wakes the thread).
//
// Password (--cluster URL's user:password@, or --cluster-password-file):
// sent with AUTH on both connections after every connect, never logged.
//
// Threads.  Client threads write presence (one script: its hash and set
// writes with its PUBLISH, kPresenceScript in cluster.cpp) and
// publish SEND/ACK/failure on the one command connection, behind cmd_mu_,
// with a short timeout.  Their publishes go through a group commit
// (server/publish_batch.hpp): those queued while a batch is in flight go
// together in the next, which one of their threads writes and reads in one
// round trip, so a node is not limited to one publish per round trip.  A
// broker that hangs costs a client thread about one timeout (the batch in
// flight, its own then fails at once), after which the link is marked down
// and every call fails at once until the cluster thread has reconnected.  The cluster thread (one, joined at
// stop()) owns the subscriber connection: it applies the other nodes'
// presence events to the Registry's replica, delivers MESSAGEs for our
// clients, settles our SENDs on their ACK or failure, refreshes our
// liveness key, reaps dead nodes, and reconnects with backoff.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/codec.hpp"
#include "server/delivery.hpp"
#include "server/ids.hpp"
#include "server/options.hpp"
#include "server/publish_batch.hpp"
#include "server/registry.hpp"

struct redisContext;
struct redisReply;

namespace sc::server {

struct Shared;

class Cluster {
 public:
  explicit Cluster(const Options& opts);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Start-up, before listening: connects and claims the node id.  False
  // with a sentence in `why` (broker unreachable, node id in use).
  bool claim(std::string& why);
  // Starts the cluster thread; `sh` outlives stop().
  bool start(Shared& sh);
  // Joins the thread and gives the node id back (after our clients left).
  void stop();

  std::uint8_t node() const { return node_; }
  bool is_local(std::uint32_t id) const { return (id >> 24) == node_; }
  bool link_up() const { return up_.load(std::memory_order_relaxed); }
  // Another process took our node id while we ran (sockchatd exits 1).
  bool lost_id() const { return lost_id_.load(std::memory_order_relaxed); }
  // The low 24 bits of our client and message ids (any thread; started by
  // claim()).  Taking never waits for Redis.
  IdCounter& client_ids() { return client_ids_; }
  IdCounter& message_ids() { return message_ids_; }

  // Client threads.  Presence of one of our clients, for the other nodes;
  // `account`: it is signed in.  `with_lock` (a client leaving: its removal
  // from the Registry) runs under cmd_mu_ (link up) or unsent_mu_ (link
  // down: its LEFT is kept, and sent with its reason once the link is
  // back), and reregister() holds both while it takes the kept LEFTs and
  // snapshots the Registry, so that a re-register cannot slip in between
  // and announce the client as LEFT CLOSED instead of its real LEFT.
  void presence(PresenceEvent event, LeaveReason reason, const Entry& entry, bool account,
                const std::function<void()>& with_lock = {});
  // A MESSAGE frame for `target` on another node; false when it cannot get
  // there (no subscriber on that node's channel, or the link is down).
  bool forward(std::uint32_t target, ByteView frame);
  // Our client `target` ACKed, or never will: tell the sender's node.
  void acked(std::uint32_t sender, std::uint32_t message_id);
  void failed(std::uint32_t sender, std::uint32_t message_id, std::string_view why);

 private:
  struct Inbound {
    Clock::time_point deadline;
    std::uint32_t message_id;
  };
  // A LEFT of ours that could not be published (the link was down): kept,
  // so that the other nodes hear the real reason once the link is back,
  // rather than the CLOSED that re-registering would guess.
  struct Unsent {
    Entry entry;
    bool account;
    LeaveReason reason;
  };

  // How far the reservation in Redis runs ahead of what was handed out; a
  // restart skips what is left of it.  4096 client ids: 4096 restarts
  // before the counter wraps, and half a block (the early wake-up) is more
  // connections than a tick sees.  2^18 message ids: 64 restarts a wrap,
  // which message ids reach with traffic anyway; only ids that may still
  // be ACKed (a delivery timeout old) must not come back, and half a block
  // outlasts a tick at any SEND rate one node serves.
  static constexpr std::uint32_t kClientIdBlock = 4096;
  static constexpr std::uint32_t kMessageIdBlock = 1u << 18;
  // One batch of publishes (PublishBatcher): 256 small PUBLISHes are a few
  // KiB each way and Redis answers them in well under a millisecond, so a
  // batch's replies come within the one command timeout (kCommandTimeout);
  // the byte bound keeps large MESSAGEs from making a batch long to write.
  static constexpr std::size_t kBatchOps = 256;
  static constexpr std::size_t kBatchBytes = std::size_t{1} << 20;

  void run();
  bool connect_all();
  bool connect_failed(const std::string& why);
  void disconnect_all();
  void after_connect();
  void link_lost(const char* what, const redisContext* c);
  long long publish(const std::string& channel, const Bytes& message);
  void publish_batch(std::span<Publish* const> batch);
  redisReply* command_locked(int argc, const char** argv, const std::size_t* lens);
  redisReply* checked_locked(const char* what, std::size_t items, const std::vector<const char*>& argv,
                             const std::vector<std::size_t>& lens);
  void lose_id();
  void tick(Clock::time_point now);
  void keep_unsent_locked(const Unsent& u);
  std::vector<Unsent> take_unsent_locked();
  void send_unsent_locked(std::vector<Unsent> unsent);
  std::size_t write_presence_locked(PresenceEvent event, const std::vector<Unsent>& states);
  bool start_ids(std::string& why);
  void keep_ids_ahead();
  void want_ids_ahead();
  int refresh();
  void reap();
  void reregister();
  void sync(bool removals);
  void sweep(std::uint64_t marker);
  void read_subscription();
  void drain_subscription();
  void on_message(std::string_view channel, std::string_view payload);
  void on_presence(std::string_view payload);
  void on_inbox(std::string_view payload);
  void deliver(std::uint32_t target, ByteView frame);
  void settle(std::uint32_t message_id, bool ok, std::string_view why);
  void remote_left(const Entry& gone, LeaveReason reason);
  std::string inbox(std::uint8_t node) const;

  const Options& opts_;
  const std::uint8_t node_;
  const std::string key_;    // sockchat:node:N
  const std::string token_;  // this process's value of key_
  std::string password_;     // AUTH after every connect; empty: none.  Never logged.
  Shared* sh_ = nullptr;

  std::mutex cmd_mu_;  // guards cmd_; taken before the Registry's locks
  redisContext* cmd_ = nullptr;
  redisContext* sub_ = nullptr;  // cluster thread only
  std::atomic<bool> up_{false};
  // Client threads' publishes, sent together on cmd_ (publish_batch()).
  PublishBatcher publishes_{[this](std::span<Publish* const> batch) { publish_batch(batch); }, kBatchOps,
                            kBatchBytes};
  bool claimed_ = false;  // the node id is ours to give back (under cmd_mu_)
  std::uint64_t seq_;     // the last sequence number we published (under cmd_mu_)
  std::mutex unsent_mu_;  // guards unsent_; taken after cmd_mu_, before the Registry's
  std::atomic<bool> lost_id_{false};  // another process took our node id: we stop
  std::vector<Unsent> unsent_;
  std::uint64_t unsent_dropped_ = 0;  // over kMaxUnsent, left to re-registering
  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;
  std::thread thread_;
  const std::string ids_key_;  // sockchat:node:N:ids
  IdCounter client_ids_;
  IdCounter message_ids_;
  std::atomic<bool> ids_wanted_{false};  // a counter used half its block: write now

  // Cluster thread only.
  std::deque<Inbound> inbound_;  // MESSAGEs from other nodes awaiting our client's ACK
  Clock::time_point next_tick_{};
  Clock::time_point full_sync_at_{};
  bool full_sync_due_ = false;
  std::uint64_t sweep_marker_ = 0;              // the last marker sync() published
  std::map<std::uint32_t, std::uint64_t> sweep_;  // id -> sequence number: removed at the marker
  std::chrono::milliseconds backoff_{100};
  std::string connect_error_;  // the last reason reconnecting failed, logged once
};

}  // namespace sc::server
