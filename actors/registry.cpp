#include "actors/registry.hpp"

#include "proto/atoms.hpp"

namespace chatd::actors {

caf::behavior registry(caf::stateful_actor<registry_state>* self, std::size_t loop_count, chat_metrics* metrics) {
  self->state.table = connection_table{loop_count};
  self->state.metrics = metrics;
  auto update_rooms = [self] { self->state.metrics->rooms.Set(static_cast<double>(self->state.table.rooms())); };
  return {
      [=](track_atom, const std::string& room, std::uint64_t loop) {
        self->state.table.track(room, loop);
        update_rooms();
      },
      [=](untrack_atom, const std::string& room, std::uint64_t loop) {
        self->state.table.untrack(room, loop);
        update_rooms();
      },
      [=](count_atom) { return self->state.table.total(); },
  };
}

} // namespace chatd::actors
