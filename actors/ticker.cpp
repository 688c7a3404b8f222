#include "actors/ticker.hpp"

#include "proto/atoms.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

namespace chatd::actors {

caf::behavior ticker(caf::event_based_actor* self, caf::actor registry, caf::actor cluster,
                     std::chrono::milliseconds interval, std::string node_id) {
  auto warn = [=](caf::error& err) {
    spdlog::warn("node={} ticker: no count this tick: {}", node_id, self->system().render(err));
  };
  auto report = [=](std::uint64_t count) {
    if (!cluster) {
      spdlog::info("node={} connected-count={}", node_id, count);
      return;
    }
    self->request(cluster, interval, count_atom::value, count)
        .then(
            [=](std::uint64_t total, std::uint64_t peers) {
              spdlog::info("node={} connected-count={} cluster-count={} peers={}", node_id, count, total, peers);
            },
            warn);
  };
  self->delayed_send(self, interval, tick_atom::value);
  return {
      [=](tick_atom) {
        self->request(registry, interval, count_atom::value).then(report, warn);
        self->delayed_send(self, interval, tick_atom::value);
      },
  };
}

} // namespace chatd::actors
