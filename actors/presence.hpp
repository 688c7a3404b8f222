#pragma once

#include "net/presence_table.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace chatd::actors {

// The node's presence sequencer: the one writer of its presence_table.
// Loops tell it when a session joins or leaves a room; peers (through the
// cluster actor) tell it their absolute counts. Every change it makes is
// turned into frames for the loops in the order it was made: the snapshot
// for a new chatd.v1 member (to its loop only) and join/leave events for a
// room (to the loops with v1 members of it). One sender per loop, so each
// loop gets them in that order (see docs/DESIGN.md "Presence").
// This node's changed counts go to the peers in batches, every
// presence_batch_interval at most.
struct presence_state {
  net::presence_table* table = nullptr;
  std::vector<caf::actor> loops;
  caf::actor cluster;
  // room -> per loop, its chatd.v1 members
  std::map<std::string, std::vector<std::uint32_t>> v1_members;
  std::set<std::pair<std::string, std::string>> dirty; // (room, user) changed here since the last batch
  bool flush_scheduled = false;
  static inline const char* name = "chatd.presence";
};

inline constexpr std::chrono::milliseconds presence_batch_interval{50};

// `cluster` is empty when the node is not clustered.
caf::behavior presence(caf::stateful_actor<presence_state>* self, net::presence_table* table,
                       std::vector<caf::actor> loops, caf::actor cluster);

} // namespace chatd::actors
