#include "server/publish_batch.hpp"

#include <utility>

namespace sc::server {

PublishBatcher::PublishBatcher(Flush flush, std::size_t max_ops, std::size_t max_bytes)
    : flush_(std::move(flush)), max_ops_(max_ops < 1 ? 1 : max_ops), max_bytes_(max_bytes) {
  taken_.reserve(max_ops_);
  batch_.reserve(max_ops_);
}

long long PublishBatcher::publish(std::string_view channel, ByteView message) {
  Waiter w{Publish{channel, message, -1}, false};
  std::unique_lock lock(mu_);
  queue_.push_back(&w);
  // More than a batch may be queued ahead of us: then we wait or lead again.
  while (!w.done) {
    if (leading_) {
      cv_.wait(lock);
    } else {
      lead(lock);
    }
  }
  return w.op.receivers;
}

std::size_t PublishBatcher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

// Called and returns with `lock` held; runs the flush without it, so that
// the next commands queue up meanwhile for the next batch.
void PublishBatcher::lead(std::unique_lock<std::mutex>& lock) noexcept {
  leading_ = true;
  take_batch();
  lock.unlock();
  flush_(std::span<Publish* const>(batch_));
  lock.lock();
  for (Waiter* w : taken_) w->done = true;
  taken_.clear();
  batch_.clear();
  leading_ = false;
  cv_.notify_all();
}

// From the front of the queue: its order is the order on the connection.
void PublishBatcher::take_batch() {
  std::size_t bytes = 0;
  while (!queue_.empty() && taken_.size() < max_ops_) {
    Waiter* w = queue_.front();
    if (!taken_.empty() && bytes + w->op.message.size() > max_bytes_) break;
    bytes += w->op.message.size();
    taken_.push_back(w);
    batch_.push_back(&w->op);
    queue_.pop_front();
  }
}

}  // namespace sc::server
