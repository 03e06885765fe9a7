// Group commit of the PUBLISHes that client threads make on a cluster
// node's one command connection (server/cluster.cpp).  Pure: a mutex and a
// condition variable, no I/O; the round trip is the injected `Flush`.
//
// A thread queues its command and waits.  If no batch is in flight, it
// leads: it takes what is queued (in queue order, bounded), runs the flush
// on it without the lock, hands every waiter its result and wakes them.
// A thread that finds a batch in flight waits; when that batch is done it
// has either got its result or becomes the next leader.  So concurrent
// publishes share one round trip, a thread waits for at most the batch in
// flight and its own, and no thread is started for it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "common/codec.hpp"

namespace sc::server {

// One command of a batch.  The views are the waiting caller's, valid until
// its publish() returns.
struct Publish {
  std::string_view channel;
  ByteView message;
  long long receivers = -1;  // the flush's answer: PUBLISH's reply; -1: failed
};

class PublishBatcher {
 public:
  // Sends the batch, in order, and sets each one's receivers; those it
  // leaves at -1 failed (the whole batch, when the link is down).  Runs on
  // the leader's thread, never two at once, without the batcher's lock.
  // It must not throw: a leader that left would leave its batch waiting
  // for ever, so that terminates instead.
  using Flush = std::function<void(std::span<Publish* const> batch)>;

  // A batch holds at most `max_ops` commands and, unless it is one
  // command, at most `max_bytes` of messages.
  PublishBatcher(Flush flush, std::size_t max_ops, std::size_t max_bytes);
  PublishBatcher(const PublishBatcher&) = delete;
  PublishBatcher& operator=(const PublishBatcher&) = delete;

  // Blocks until this command's batch has run; its receivers, or -1.
  long long publish(std::string_view channel, ByteView message);

  // Commands queued and not yet taken by a leader (tests watch it).
  std::size_t queued() const;

 private:
  struct Waiter {
    Publish op;
    bool done = false;
  };

  void lead(std::unique_lock<std::mutex>& lock) noexcept;
  void take_batch();

  const Flush flush_;
  const std::size_t max_ops_;
  const std::size_t max_bytes_;
  mutable std::mutex mu_;  // guards the members below and every Waiter's `done`
  std::condition_variable cv_;
  std::deque<Waiter*> queue_;
  bool leading_ = false;
  // The batch in flight, the leader's alone; reserved up front, so that
  // leading allocates nothing.
  std::vector<Waiter*> taken_;
  std::vector<Publish*> batch_;
};

}  // namespace sc::server
