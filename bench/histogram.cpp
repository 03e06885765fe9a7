#include "bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sc::bench {

// Values below 16 have a bucket each; above, the leading bit picks the
// power of two and the next four bits the sub-bucket.
int Histogram::bucket_of(std::uint64_t v) {
  constexpr std::uint64_t kSub = 1u << kSubBits;
  if (v < kSub) return static_cast<int>(v);
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - kSubBits;
  const auto sub = static_cast<int>((v >> shift) & (kSub - 1));
  return ((shift + 1) << kSubBits) + sub;
}

std::uint64_t Histogram::bucket_upper(int b) {
  constexpr int kSub = 1 << kSubBits;
  if (b < kSub) return static_cast<std::uint64_t>(b);
  const int shift = (b >> kSubBits) - 1;
  const auto sub = static_cast<std::uint64_t>(b & (kSub - 1));
  const std::uint64_t low = (std::uint64_t{kSub} + sub) << shift;
  return low + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t ns) {
  ++counts_[static_cast<std::size_t>(bucket_of(ns))];
  ++count_;
  max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[static_cast<std::size_t>(b)];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(bucket_upper(b), max_);
  }
  return max_;
}

}  // namespace sc::bench
