#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace chatd::net {

// Where a room has members beyond one loop: how many of this node's loops
// have members, and how many peers said they have. Shared by the loops and
// the cluster actor; a loop reads it for every message it publishes (two
// atomic loads) to keep messages of a room that has no members elsewhere on
// the loop.
class room_presence {
public:
  // The node's first member of a room (across loops) starts a new
  // generation: peers must learn of it before a client that joins is told
  // it is in (see docs/DESIGN.md, "Interest routing").
  struct join_state {
    bool announced; // peers know this node has members: nothing to wait for
    std::uint64_t generation;
    bool first_on_node;
  };

  // A loop got its first member / lost its last one. `on_node_change` runs
  // under the lock when the node as a whole gets its first member or loses
  // its last, so that what it sends is in the order of the changes.
  join_state add_loop(const std::function<void(std::uint64_t generation)>& on_first_on_node);
  void remove_loop(const std::function<void()>& on_last_on_node);
  // Peers acknowledged generation `g`; false when it is out of date.
  bool announce(std::uint64_t g);

  // A loop's members of the room went over --max-queue-bytes / back under it:
  // while any loop's are over, every loop stops reading the room's publishers.
  void add_backlogged() { backlogged_.fetch_add(1); }
  void remove_backlogged() { backlogged_.fetch_sub(1); }
  bool backlogged() const { return backlogged_.load(std::memory_order_relaxed) > 0; }

  void add_peer() { peers_.fetch_add(1); }
  void remove_peer() { peers_.fetch_sub(1); }

  std::uint32_t loops() const { return loops_.load(); }
  std::uint32_t peers() const { return peers_.load(); }

private:
  std::mutex mutex_; // the transitions above
  std::atomic<std::uint32_t> loops_{0};
  std::atomic<std::uint32_t> peers_{0};
  std::atomic<std::uint32_t> backlogged_{0};
  std::uint64_t generation_ = 0;
  bool announced_ = false;
};

// The rooms of one node, by name. Thread-safe; loops look a room up when
// they get its first member, not per message.
class room_directory {
public:
  // `clustered`: peers exist, so first joins wait for them (see room_presence).
  explicit room_directory(bool clustered = false) : clustered_(clustered) {}

  std::shared_ptr<room_presence> get(const std::string& room);
  bool clustered() const { return clustered_; }
  void set_clustered(bool clustered) { clustered_ = clustered; }

  // Peers whose rooms this node does not know (linked but not told yet, or
  // known and down): while there are any, every message goes to the cluster
  // actor, which sends or counts it.
  void add_unknown_peer() { unknown_peers_.fetch_add(1); }
  void remove_unknown_peer() { unknown_peers_.fetch_sub(1); }
  std::uint32_t unknown_peers() const { return unknown_peers_.load(); }

  // Whether a message published in a room with this presence must leave the loop.
  bool leaves_loop(const room_presence& p) const {
    return p.loops() > 1 || p.peers() > 0 || unknown_peers_.load(std::memory_order_relaxed) > 0;
  }

private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<room_presence>> rooms_;
  std::size_t sweep_at_ = 64; // drop expired entries when the map grows past this
  bool clustered_;
  std::atomic<std::uint32_t> unknown_peers_{0};
};

} // namespace chatd::net
