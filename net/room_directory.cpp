#include "net/room_directory.hpp"

namespace chatd::net {

room_presence::join_state room_presence::add_loop(const std::function<void(std::uint64_t)>& on_first_on_node) {
  std::lock_guard lock{mutex_};
  bool first = loops_.fetch_add(1) == 0;
  if (first) {
    ++generation_;
    announced_ = false;
    on_first_on_node(generation_);
  }
  return {announced_, generation_, first};
}

void room_presence::remove_loop(const std::function<void()>& on_last_on_node) {
  std::lock_guard lock{mutex_};
  if (loops_.fetch_sub(1) == 1) {
    announced_ = false;
    on_last_on_node();
  }
}

bool room_presence::announce(std::uint64_t g) {
  std::lock_guard lock{mutex_};
  if (g != generation_ || loops_.load() == 0)
    return false;
  announced_ = true;
  return true;
}

std::shared_ptr<room_presence> room_directory::get(const std::string& room) {
  std::lock_guard lock{mutex_};
  auto& slot = rooms_[room];
  auto p = slot.lock();
  if (!p) {
    p = std::make_shared<room_presence>();
    slot = p;
  }
  if (rooms_.size() > sweep_at_) {
    for (auto it = rooms_.begin(); it != rooms_.end();)
      it = it->second.expired() ? rooms_.erase(it) : std::next(it);
    sweep_at_ = 2 * rooms_.size() + 64;
  }
  return p;
}

} // namespace chatd::net
