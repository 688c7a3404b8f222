#include "actors/ticker.hpp"

#include "proto/atoms.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatd::actors {

caf::behavior ticker(caf::event_based_actor* self, caf::actor registry, std::chrono::milliseconds interval,
                     std::string node_id) {
  self->delayed_send(self, interval, tick_atom::value);
  return {
      [=](tick_atom) {
        self->request(registry, interval, count_atom::value)
            .then([=](std::uint64_t count) { spdlog::info("node={} connected-count={}", node_id, count); },
                  [=](caf::error& err) {
                    spdlog::warn("node={} ticker: registry did not answer: {}", node_id, self->system().render(err));
                  });
        self->delayed_send(self, interval, tick_atom::value);
      },
  };
}

} // namespace chatd::actors
