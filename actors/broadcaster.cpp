#include "actors/broadcaster.hpp"

#include "proto/atoms.hpp"

#include <algorithm>

namespace chatd::actors {

caf::behavior broadcaster(caf::stateful_actor<broadcaster_state>* self, std::vector<caf::actor> loops) {
  self->state.loops = std::move(loops);
  self->state.outgoing.resize(self->state.loops.size());
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
      // One message per target loop, carrying the frames of the batch whose
      // rooms it has members of, in the batch's order.
      [=](publish_atom, frame_batch& batch, std::uint64_t origin) {
        auto& st = self->state;
        if (origin != remote_origin && st.cluster)
          self->send(st.cluster, publish_atom::value, batch);
        const std::string* last_room = nullptr;
        const std::vector<bool>* on = nullptr;
        for (auto& f : batch) {
          if (!last_room || *last_room != f->room) {
            auto it = st.routes.find(f->room);
            on = it == st.routes.end() ? nullptr : &it->second;
            last_room = &f->room;
          }
          if (!on)
            continue;
          // The origin loop delivered to its own members before publishing.
          for (std::size_t i = 0; i < on->size(); ++i)
            if ((*on)[i] && i != origin)
              st.outgoing[i].push_back(f);
        }
        for (std::size_t i = 0; i < st.outgoing.size(); ++i)
          if (!st.outgoing[i].empty()) {
            self->send(st.loops[i], deliver_atom::value, std::move(st.outgoing[i]));
            st.outgoing[i] = {};
          }
      },
      // Each to the loop that orders its room, in the batch's order.
      [=](order_atom, frame_batch& batch) {
        auto& st = self->state;
        for (auto& f : batch)
          st.outgoing[net::home_loop(f->room, st.loops.size())].push_back(std::move(f));
        for (std::size_t i = 0; i < st.outgoing.size(); ++i)
          if (!st.outgoing[i].empty()) {
            self->send(st.loops[i], sequence_atom::value, std::move(st.outgoing[i]));
            st.outgoing[i] = {};
          }
      },
      // Through here, like the messages, so that an answer is behind what
      // its loop published before it.
      [=](histreq_atom, const std::string& room, const net::history_request& request, std::uint64_t loop,
          std::uint64_t session) {
        auto& st = self->state;
        self->send(st.loops[net::home_loop(room, st.loops.size())], histreq_atom::value, room, request, loop, session);
      },
      // To the session's loop, or (remote_origin) to the cluster actor,
      // which answers the peer that asked (`session` is its request).
      [=](histans_atom, std::uint64_t loop, std::uint64_t session, const net::history_answer& answer) {
        auto& st = self->state;
        if (loop < st.loops.size())
          self->send(st.loops[loop], histans_atom::value, session, answer);
        else if (loop == remote_origin && st.cluster)
          self->send(st.cluster, histans_atom::value, session, answer);
      },
      // Every loop, in the order the cluster actor saw the changes.
      [=](view_atom, const std::vector<std::string>& nodes, bool ready, std::uint64_t known) {
        for (auto& loop : self->state.loops)
          self->send(loop, view_atom::value, nodes, ready, known);
      },
      // Every other loop (whether it has members of the room or not: a route
      // may be on its way), and the peers when it comes from a local loop.
      [=](remove_atom, const std::string& room, const std::string& user, std::uint64_t origin) {
        auto& st = self->state;
        if (origin != remote_origin && st.cluster)
          self->send(st.cluster, remove_atom::value, room, user);
        for (std::size_t i = 0; i < st.loops.size(); ++i)
          if (i != origin)
            self->send(st.loops[i], remove_atom::value, room, user);
      },
      // Every loop: one whose first member's route is still on its way has
      // sessions waiting for this too.
      [=](announced_atom, const std::string& room, std::uint64_t generation) {
        for (auto& loop : self->state.loops)
          self->send(loop, announced_atom::value, room, generation);
      },
  };
}

} // namespace chatd::actors
