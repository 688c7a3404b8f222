#include "actors/connection_table.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace chatd::actors {

void connection_table::track(const std::string& room, std::size_t loop) {
  assert(loop < loop_count_);
  auto& counts = rooms_[room];
  if (counts.empty())
    counts.resize(loop_count_);
  ++total_;
  ++counts[loop];
}

void connection_table::untrack(const std::string& room, std::size_t loop) {
  auto it = rooms_.find(room);
  assert(it != rooms_.end() && loop < loop_count_ && it->second[loop] > 0);
  --total_;
  if (--it->second[loop] == 0 && std::all_of(it->second.begin(), it->second.end(), [](auto n) { return n == 0; }))
    rooms_.erase(it);
}

std::uint64_t connection_table::in_room(const std::string& room) const {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? 0 : std::accumulate(it->second.begin(), it->second.end(), std::uint64_t{0});
}

std::uint64_t connection_table::on_loop(std::size_t loop) const {
  std::uint64_t n = 0;
  for (auto& [room, counts] : rooms_)
    n += counts[loop];
  return n;
}

} // namespace chatd::actors
