// A set of sequence numbers kept as sorted, disjoint, non-adjacent closed
// ranges [first, last]: what a steady-workload subscriber received from one
// publisher. Arrivals are almost always in order (append or extend the last
// range, O(1)); anything else is inserted where it belongs and reported.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace chatbench {

class RangeSet {
public:
  enum class Added { in_order, out_of_order, duplicate };

  Added add(uint64_t v) {
    if (r_.empty() || v > r_.back().second + 1) {
      r_.push_back({v, v});
      return Added::in_order;
    }
    if (v == r_.back().second + 1) {
      r_.back().second = v;
      return Added::in_order;
    }
    // v <= last: the first range whose end is >= v - 1 is where it goes
    auto it = std::lower_bound(r_.begin(), r_.end(), v,
                               [](const std::pair<uint64_t, uint64_t>& r, uint64_t x) { return r.second + 1 < x; });
    if (it->first <= v && v <= it->second)
      return Added::duplicate;
    if (v + 1 == it->first) {
      it->first = v;
    } else if (v == it->second + 1) {
      it->second = v;
    } else {
      r_.insert(it, {v, v});
      return Added::out_of_order;
    }
    // extending may have closed the gap to a neighbour
    auto i = it - r_.begin();
    if (i > 0 && r_[i - 1].second + 1 == r_[i].first) {
      r_[i - 1].second = r_[i].second;
      r_.erase(r_.begin() + i);
    } else if (static_cast<std::size_t>(i) + 1 < r_.size() && r_[i].second + 1 == r_[i + 1].first) {
      r_[i].second = r_[i + 1].second;
      r_.erase(r_.begin() + i + 1);
    }
    return Added::out_of_order;
  }

  bool contains(uint64_t v) const {
    auto it = std::lower_bound(r_.begin(), r_.end(), v,
                               [](const std::pair<uint64_t, uint64_t>& r, uint64_t x) { return r.second < x; });
    return it != r_.end() && it->first <= v;
  }

  uint64_t size() const {
    uint64_t n = 0;
    for (auto& [a, b] : r_)
      n += b - a + 1;
    return n;
  }

  const std::vector<std::pair<uint64_t, uint64_t>>& ranges() const { return r_; }

private:
  std::vector<std::pair<uint64_t, uint64_t>> r_;
};

} // namespace chatbench
