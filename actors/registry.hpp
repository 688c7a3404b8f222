#pragma once

#include "actors/connection_table.hpp"
#include "proto/chat_metrics.hpp"

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

namespace chatd::actors {

// Tracks and untracks every connection of this node, per room and per loop,
// and answers how many there are (for the ticker and the cluster census).
struct registry_state {
  connection_table table{0};
  chat_metrics* metrics = nullptr;
  static inline const char* name = "chatd.registry";
};

caf::behavior registry(caf::stateful_actor<registry_state>* self, std::size_t loop_count, chat_metrics* metrics);

} // namespace chatd::actors
