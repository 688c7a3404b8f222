#pragma once

#include "proto/presence_count.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chatd::net {

using chatd::presence_count;

// One user in a room, cluster-wide.
struct presence_member {
  std::string user;
  std::string name;
  std::uint64_t connections = 0;
};

// A room's presence, cluster-wide, at one moment.
struct presence_snapshot {
  std::vector<presence_member> members; // by user id
  std::uint64_t users = 0;              // members.size() when listed
  std::uint64_t anonymous = 0;          // connections without an identity
  std::uint64_t connections = 0;        // every connection, the anonymous ones too
  bool large = false;                   // over --presence-max-members
};

// What a change to the table means for a room's members. A user joins when
// their cluster-wide count goes 0 -> 1 and leaves when it goes 1 -> 0; a
// room going over --presence-max-members (users + anonymous connections)
// stops those events and says `large` once, and `small` when it is back.
struct presence_change {
  enum class kind { join, leave, large, small };
  kind what;
  std::string room;
  std::string user;
  std::string name;
};

// Who is in which room, across the cluster: per room, per user, the
// connections each node has (this node is ""), and each node's anonymous
// connections. Written by the presence actor only; read under the same lock
// by loops answering the API (no actor round trip).
class presence_table {
public:
  static inline const std::string this_node{};

  explicit presence_table(std::size_t max_members = 1000) : max_members_(max_members) {}
  void set_max_members(std::size_t n) { max_members_ = n; }
  std::size_t max_members() const { return max_members_; }

  // A connection of this node joined (+1) or left (-1) `room`.
  std::vector<presence_change> add_local(const std::string& room, const std::string& user, const std::string& name,
                                         int delta);
  // Takes node `node`'s absolute counts (a peer's batch).
  std::vector<presence_change> set(const std::string& node, const std::vector<presence_count>& counts);
  // Everything `node` said is replaced by `counts` (its full dump at link-up):
  // what is absent from it counts as 0. Only the net changes come out.
  std::vector<presence_change> replace_node(const std::string& node, const std::vector<presence_count>& counts);
  // `node` is gone: its connections leave.
  std::vector<presence_change> drop_node(const std::string& node);

  // This node's count of (room, user) (user empty: anonymous), for its batches.
  presence_count local_count(const std::string& room, const std::string& user) const;
  // Every count of this node (its dump for a peer).
  std::vector<presence_count> local_counts() const;

  // `members`: list the users (the API does; a large room's presence
  // message has counts only).
  presence_snapshot snapshot(const std::string& room, bool members = true) const;
  // Rooms with members anywhere, with their cluster-wide connection counts, by name.
  std::vector<std::pair<std::string, std::uint64_t>> rooms() const;
  bool large(const std::string& room) const;

private:
  struct user_entry {
    std::string name;
    std::map<std::string, std::uint64_t> nodes; // node -> connections (> 0)
    std::uint64_t total = 0;
  };
  struct room_entry {
    std::map<std::string, user_entry> users;
    std::map<std::string, std::uint64_t> anonymous; // node -> connections (> 0)
    std::uint64_t anonymous_total = 0;
    std::uint64_t connections = 0;
  };

  // Sets (node, room, user) to `count`; appends what it means to `out`.
  void set_locked(const std::string& node, const presence_count& c, std::vector<presence_change>& out);
  bool large_locked(const room_entry& r) const;
  static std::uint64_t node_count(const room_entry& r, const std::string& node, const std::string& user);

  mutable std::mutex mutex_;
  std::size_t max_members_;
  std::map<std::string, room_entry> rooms_;
};

} // namespace chatd::net
