#include "actors/broadcaster.hpp"

#include "proto/atoms.hpp"

#include <algorithm>

namespace chatd::actors {

caf::behavior broadcaster(caf::stateful_actor<broadcaster_state>* self, std::vector<caf::actor> loops) {
  self->state.loops = std::move(loops);
  return {
      [=](route_atom, const std::string& room, std::uint64_t loop, bool present) {
        auto& routes = self->state.routes;
        auto& on = routes[room];
        on.resize(self->state.loops.size());
        on[loop] = present;
        if (std::none_of(on.begin(), on.end(), [](bool b) { return b; }))
          routes.erase(room);
      },
      [=](cluster_atom, caf::actor cluster) { self->state.cluster = std::move(cluster); },
      [=](publish_atom, const frame_ptr& f, std::uint64_t origin) {
        if (origin != remote_origin && self->state.cluster)
          self->send(self->state.cluster, publish_atom::value, f);
        auto it = self->state.routes.find(f->room);
        if (it == self->state.routes.end())
          return;
        // The origin loop delivered to its own members before publishing.
        for (std::size_t i = 0; i < it->second.size(); ++i)
          if (it->second[i] && i != origin)
            self->send(self->state.loops[i], deliver_atom::value, f);
      },
  };
}

} // namespace chatd::actors
