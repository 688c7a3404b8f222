#pragma once

#include "actors/connection_table.hpp"
#include "proto/chat_metrics.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace chatd::actors {

// Tracks and untracks every connection of this node, per room and per loop.
// Tells the broadcaster when a loop gains its first or loses its last member
// of a room, so fan-out only goes to loops with members.
struct registry_state {
  connection_table table{0};
  caf::actor broadcaster;
  chat_metrics* metrics = nullptr;
  static inline const char* name = "chatd.registry";
};

caf::behavior registry(caf::stateful_actor<registry_state>* self, std::size_t loop_count, caf::actor broadcaster,
                       chat_metrics* metrics);

} // namespace chatd::actors
