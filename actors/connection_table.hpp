#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace chatd::actors {

// The registry's bookkeeping: how many connections each loop has in each room.
class connection_table {
public:
  explicit connection_table(std::size_t loop_count) : loop_count_(loop_count) {}

  void track(const std::string& room, std::size_t loop);
  // Untracking what was never tracked is a bug in the caller.
  void untrack(const std::string& room, std::size_t loop);

  std::uint64_t total() const { return total_; }
  std::size_t rooms() const { return rooms_.size(); }
  std::uint64_t in_room(const std::string& room) const;
  std::uint64_t on_loop(std::size_t loop) const;

private:
  std::size_t loop_count_;
  std::uint64_t total_ = 0;
  std::map<std::string, std::vector<std::uint64_t>> rooms_; // room -> count per loop
};

} // namespace chatd::actors
