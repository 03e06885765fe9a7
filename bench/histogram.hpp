// Latency histogram with logarithmic buckets (16 per power of two, so a
// percentile is off by at most 1/16 = 6 %), cheap to record into and to merge
// across threads.  Values are nanoseconds.
#pragma once

#include <array>
#include <cstdint>

namespace sc::bench {

class Histogram {
 public:
  void record(std::uint64_t ns);
  void merge(const Histogram& other);
  // Upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
  std::uint64_t quantile(double q) const;
  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBits = 4;
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  static int bucket_of(std::uint64_t v);
  static std::uint64_t bucket_upper(int b);

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace sc::bench
