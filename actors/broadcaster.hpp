#pragma once

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "net/room_history.hpp"
#include "proto/atoms.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace chatd::actors {

// Passes messages read on one loop to the loop that orders their room
// (net::home_loop), and history requests and answers between loops.
// Fans each published batch out to the other loops that have members of
// its rooms: one message per loop, all sharing the same immutable frames. A
// batch from a local loop also goes to the cluster actor (when clustered),
// one from a peer only to local loops.
struct broadcaster_state {
  std::vector<caf::actor> loops;
  caf::actor cluster;
  std::unordered_map<std::string, std::vector<bool>> routes; // room -> loop has members
  std::vector<frame_batch> outgoing;                         // per loop, while a batch is split
  static inline const char* name = "chatd.broadcaster";
};

caf::behavior broadcaster(caf::stateful_actor<broadcaster_state>* self, std::vector<caf::actor> loops);

} // namespace chatd::actors

// History requests and answers stay inside one process, like frames.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::net::history_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::net::history_answer)
