#pragma once

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>

#include <chrono>
#include <string>

namespace chatd::actors {

// Every `interval`, asks the registry for this node's connection count and
// logs one line with connected-count=<n>; when clustered (`cluster` is set),
// the line also has cluster-count=<n> for all nodes.
caf::behavior ticker(caf::event_based_actor* self, caf::actor registry, caf::actor cluster,
                     std::chrono::milliseconds interval, std::string node_id);

} // namespace chatd::actors
