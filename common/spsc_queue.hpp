// sc::SpscQueue<T>: a bounded, lock-free, single-producer single-consumer
// ring buffer (after rigtorp/SPSCQueue and folly's ProducerConsumerQueue).
//
// Threading contract:
//  - exactly ONE producer thread calls try_emplace() / try_push();
//  - exactly ONE consumer thread calls front() / pop();
//  - size(), empty() and capacity() may be called from either, and size() is
//    only a snapshot.
// Construction and destruction must not race with either thread.
//
// The capacity is fixed at construction; the slots live on the heap with one
// spare slot so that "full" and "empty" are told apart without a counter.
// Each side keeps a cached copy of the other side's index and reloads it
// only when the cache says full/empty, so the two cache lines are not
// bounced between cores on every operation.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace sc {

template <class T>
class SpscQueue {
 public:
  explicit SpscQueue(std::size_t capacity)
      : slots_count_(slots_for(capacity)),
        slots_(std::allocator<T>().allocate(slots_count_)) {}

  ~SpscQueue() {
    while (front()) pop();
    std::allocator<T>().deallocate(slots_, slots_count_);
  }

  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer only.  Constructs an element in place; false when full.
  template <class... A>
  bool try_emplace(A&&... args) noexcept(std::is_nothrow_constructible_v<T, A&&...>) {
    const std::size_t w = write_idx_.load(std::memory_order_relaxed);
    const std::size_t next = advance(w);
    if (next == read_idx_cache_) {
      read_idx_cache_ = read_idx_.load(std::memory_order_acquire);
      if (next == read_idx_cache_) return false;
    }
    ::new (static_cast<void*>(slots_ + w)) T(std::forward<A>(args)...);
    write_idx_.store(next, std::memory_order_release);
    return true;
  }

  // Producer only.
  bool try_push(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return try_emplace(std::move(v));
  }

  // Consumer only.  The oldest element, or nullptr when empty.
  T* front() noexcept {
    const std::size_t r = read_idx_.load(std::memory_order_relaxed);
    if (r == write_idx_cache_) {
      write_idx_cache_ = write_idx_.load(std::memory_order_acquire);
      if (r == write_idx_cache_) return nullptr;
    }
    return std::launder(slots_ + r);
  }

  // Consumer only.  Destroys the oldest element; the queue must not be empty
  // (call front() first).
  void pop() noexcept {
    const std::size_t r = read_idx_.load(std::memory_order_relaxed);
    assert(r != write_idx_.load(std::memory_order_acquire) && "pop() on an empty queue");
    std::launder(slots_ + r)->~T();
    read_idx_.store(advance(r), std::memory_order_release);
  }

  std::size_t size() const noexcept {
    const std::size_t w = write_idx_.load(std::memory_order_acquire);
    const std::size_t r = read_idx_.load(std::memory_order_acquire);
    return w >= r ? w - r : slots_count_ - r + w;
  }

  bool empty() const noexcept {
    return write_idx_.load(std::memory_order_acquire) == read_idx_.load(std::memory_order_acquire);
  }

  std::size_t capacity() const noexcept { return slots_count_ - 1; }

 private:
  static constexpr std::size_t kCacheLine = 64;

  // One spare slot; at least one usable.
  static std::size_t slots_for(std::size_t capacity) {
    if (capacity >= std::allocator_traits<std::allocator<T>>::max_size(std::allocator<T>()))
      throw std::length_error("SpscQueue capacity too large");
    return capacity < 1 ? 2 : capacity + 1;
  }

  std::size_t advance(std::size_t i) const noexcept {
    return i + 1 == slots_count_ ? 0 : i + 1;
  }

  // Read-only after construction: shared freely by both threads.
  const std::size_t slots_count_;
  T* const slots_;

  // Producer's line: its index and its copy of the consumer's.
  alignas(kCacheLine) std::atomic<std::size_t> write_idx_{0};
  std::size_t read_idx_cache_ = 0;

  // Consumer's line: its index and its copy of the producer's.
  alignas(kCacheLine) std::atomic<std::size_t> read_idx_{0};
  std::size_t write_idx_cache_ = 0;
};

}  // namespace sc
