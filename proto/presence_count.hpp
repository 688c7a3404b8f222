#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chatd {

// What one node says about one user of a room: an absolute count (0: gone),
// so that a repeated or late statement does no harm. An empty user is the
// node's anonymous connections of the room.
struct presence_count {
  std::string room;
  std::string user;
  std::string name;
  std::uint64_t connections = 0;
};

// Counts of one node, as one hop carries them between nodes.
struct presence_update {
  std::vector<presence_count> counts;
};

// A connection of this node joined or left a room: what a loop tells the
// presence actor.
struct presence_session {
  std::string room;
  std::string user; // empty: anonymous
  std::string name;
  std::uint64_t connection = 0; // unique on this node
  std::uint64_t loop = 0;
  bool v1 = false; // speaks chatd.v1: gets the presence messages
};

} // namespace chatd
