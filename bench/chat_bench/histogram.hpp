// HDR-style log-bucketed latency histogram: every power of two is split into
// 2^kSubBits linear sub-buckets, so any recorded value is known to within
// 1/2^kSubBits (< 0.8 %) of itself. Fixed size, no allocation after
// construction, mergeable. Values are nanoseconds (any uint64 is accepted;
// values >= 2^kMaxExp land in the last bucket, and max() stays exact).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace chatbench {

class Histogram {
public:
  static constexpr int kSubBits = 7; // 128 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxExp = 44; // 2^44 ns ~ 4.9 h
  static constexpr int kBuckets = (kMaxExp - kSubBits + 2) * kSub;

  void record(uint64_t v) noexcept {
    ++counts_[index(v)];
    ++total_;
    if (v > max_)
      max_ = v;
    if (v < min_)
      min_ = v;
  }

  void merge(const Histogram& o) noexcept {
    for (int i = 0; i < kBuckets; ++i)
      counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  uint64_t count() const noexcept { return total_; }
  // f(bucket index, count) for every non-empty bucket, in order.
  template <class F>
  void for_each(F&& f) const {
    for (int i = 0; i < kBuckets; ++i)
      if (counts_[i])
        f(i, counts_[i]);
  }
  uint64_t max() const noexcept { return total_ ? max_ : 0; }
  uint64_t min() const noexcept { return total_ ? min_ : 0; }

  // Smallest recorded-bucket value v such that at least q of the samples
  // are <= v (reported as the bucket's upper bound, clamped to max()).
  uint64_t percentile(double q) const noexcept {
    if (total_ == 0)
      return 0;
    if (q <= 0)
      return min();
    uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.5);
    if (want < 1)
      want = 1;
    if (want > total_)
      want = total_;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= want)
        return std::min(upper(i), max_);
    }
    return max_;
  }

  static int index(uint64_t v) noexcept {
    if (v < static_cast<uint64_t>(kSub))
      return static_cast<int>(v);
    int e = 63 - std::countl_zero(v); // v in [2^e, 2^(e+1)), e >= kSubBits
    if (e > kMaxExp)
      return kBuckets - 1;
    int shift = e - kSubBits;
    int sub = static_cast<int>((v >> shift) & (kSub - 1));
    int idx = (shift + 1) * kSub + sub;
    return idx < kBuckets ? idx : kBuckets - 1;
  }
  // Largest value that maps to bucket i.
  static uint64_t upper(int i) noexcept {
    if (i < kSub)
      return static_cast<uint64_t>(i);
    int shift = i / kSub - 1;
    uint64_t sub = static_cast<uint64_t>(i % kSub);
    uint64_t lo = (static_cast<uint64_t>(kSub) + sub) << shift;
    return lo + ((uint64_t{1} << shift) - 1);
  }

private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

} // namespace chatbench
