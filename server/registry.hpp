// Connected clients as every thread sees them: ids, nicks, subscriptions,
// and each client's outbox, through which other threads reach it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/codec.hpp"

namespace sc::server {

// One client's shared half.  Its connection thread is the only thread that
// touches the socket; any other thread that has something to say to the
// client appends a whole encoded frame to the outbox with post(), and the
// connection thread moves the outbox into its own output buffer with take().
class Peer {
 public:
  Peer(const Entry& entry, int wake_fd, std::uint64_t sendq);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  std::uint32_t id() const { return entry_.id; }
  // The nick inside is written only by the owning connection thread, under
  // Registry's lock: that thread may read it without the lock, others must
  // hold it.
  const Entry& entry() const { return entry_; }
  int wake_fd() const { return wake_fd_; }

  // Any thread.  Appends `frame` and wakes the owner when the outbox was
  // empty (one eventfd write per batch, not per frame).  False when the
  // client is gone or dead; when the frame would take the client's unsent
  // backlog past --sendq, the client is marked dead (SENDQ_EXCEEDED) and its
  // thread woken to close it.
  bool post(ByteView frame);
  // Any thread: asks the owner to send SHUTDOWN and close.
  void request_stop();

  // Owner only.
  struct Flags {
    bool dead = false;  // sendq exceeded: close now
    bool stop = false;  // server shutdown: say goodbye and close
  };
  // Appends the outbox to `out` (swaps buffers when `out` is empty).
  Flags take(Bytes& out);
  // Publishes the owner's own unsent bytes, which count towards --sendq.
  void set_unsent(std::size_t n) { unsent_.store(n, std::memory_order_relaxed); }
  // The client left: no more posts (request_stop() still wakes the owner,
  // which may be busy saying goodbye).
  void retire();
  // The owner is about to end: nobody may touch the wake fd any more.
  void close_wake_fd();
  bool stop_requested();
  void release_idle_memory();

 private:
  friend class Registry;
  Entry entry_;
  const std::uint64_t sendq_;
  std::atomic<std::size_t> unsent_{0};

  std::mutex mu_;  // guards everything below
  int wake_fd_;
  Bytes outbox_;
  bool retired_ = false;
  bool dead_ = false;
  bool stop_ = false;
};

enum class NickResult { Changed, Unchanged, InUse };

// Lock order: Registry's lock, then a Peer's; never the other way round.
class Registry {
 public:
  void add(const std::shared_ptr<Peer>& peer);
  void remove(std::uint32_t id);
  std::shared_ptr<Peer> find(std::uint32_t id) const;
  std::size_t size() const;

  // Nicks are unique among connected clients (byte-exact).  Setting one's own
  // current nick again is Unchanged (no RENAMED event).
  NickResult set_nick(Peer& peer, std::string_view nick);
  void set_subscribed(const std::shared_ptr<Peer>& peer, bool on);

  // The LIST response payload: count, then the entries ascending by id, as
  // many as fit in kMaxServerPayload, the most a client accepts (that takes
  // over 260,000 clients).  Returns how many did not fit.
  std::size_t put_list(Bytes& out) const;

  // Queues a PRESENCE indication about `subject` to every subscriber.  Posting
  // under the lock gives every subscriber the same order of events.
  void publish(PresenceEvent event, LeaveReason reason, const Peer& subject);

 private:
  mutable std::mutex mu_;
  std::map<std::uint32_t, std::shared_ptr<Peer>> peers_;  // ordered: LIST is by id
  std::map<std::uint32_t, std::shared_ptr<Peer>> subscribers_;
  std::unordered_map<std::string, std::uint32_t> nicks_;
};

}  // namespace sc::server
