#include "actors/presence.hpp"

#include "net/presence_json.hpp"
#include "net/v1_protocol.hpp"
#include "proto/atoms.hpp"
#include "proto/cluster_messages.hpp"

namespace chatd::actors {

namespace {

using self_ptr = caf::stateful_actor<presence_state>*;
using kind = net::presence_change::kind;

// For chatd.v1 clients only: raw sessions skip it (frame::v1_only).
frame_ptr text_frame(const std::string& room, std::string json) {
  return net::make_v1_frame(room, json, std::chrono::steady_clock::now());
}

// The room's presence message: the list, or counts for a large room.
frame_ptr snapshot_frame(self_ptr self, const std::string& room) {
  auto large = self->state.table->large(room);
  return text_frame(room, net::presence_message(self->state.table->snapshot(room, !large)));
}

// What `changes` mean for the v1 members: one frame per change, one message
// per loop that has v1 members of the rooms concerned.
void announce(self_ptr self, const std::vector<net::presence_change>& changes) {
  auto& st = self->state;
  std::vector<frame_batch> out(st.loops.size());
  for (auto& c : changes) {
    auto room = st.v1_members.find(c.room);
    if (room == st.v1_members.end())
      continue;
    // Crossing the threshold: the new form of the room's presence, once.
    auto f = c.what == kind::large || c.what == kind::small ? snapshot_frame(self, c.room)
                                                            : text_frame(c.room, net::member_message(c));
    for (std::size_t i = 0; i < out.size(); ++i)
      if (room->second[i] != 0)
        out[i].push_back(f);
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (!out[i].empty())
      self->send(st.loops[i], pevent_atom::value, std::move(out[i]));
}

void changed_here(self_ptr self, const std::string& room, const std::string& user) {
  auto& st = self->state;
  if (!st.cluster)
    return;
  st.dirty.emplace(room, user);
  if (st.flush_scheduled)
    return;
  st.flush_scheduled = true;
  self->delayed_send(self, presence_batch_interval, pflush_atom::value);
}

void count_v1(self_ptr self, const presence_session& s, int delta) {
  if (!s.v1)
    return;
  auto& per_loop = self->state.v1_members[s.room];
  per_loop.resize(self->state.loops.size());
  per_loop[s.loop] = static_cast<std::uint32_t>(static_cast<int>(per_loop[s.loop]) + delta);
  for (auto n : per_loop)
    if (n != 0)
      return;
  self->state.v1_members.erase(s.room);
}

} // namespace

caf::behavior presence(caf::stateful_actor<presence_state>* self, net::presence_table* table,
                       std::vector<caf::actor> loops, caf::actor cluster) {
  self->state.table = table;
  self->state.loops = std::move(loops);
  self->state.cluster = std::move(cluster);
  return {
      [=](pjoin_atom, const presence_session& s) {
        auto changes = self->state.table->add_local(s.room, s.user, s.name, +1);
        // Its own join is in its snapshot: it skips events until that comes.
        announce(self, changes);
        count_v1(self, s, +1);
        if (s.v1)
          self->send(self->state.loops[s.loop], psnap_atom::value, s.connection,
                     frame_batch{snapshot_frame(self, s.room)});
        changed_here(self, s.room, s.user);
      },
      [=](pleave_atom, const presence_session& s) {
        count_v1(self, s, -1);
        announce(self, self->state.table->add_local(s.room, s.user, s.name, -1));
        changed_here(self, s.room, s.user);
      },
      // This node's counts that changed since the last batch, as they are now.
      [=](pflush_atom) {
        auto& st = self->state;
        st.flush_scheduled = false;
        presence_update update;
        update.counts.reserve(st.dirty.size());
        for (auto& [room, user] : st.dirty)
          update.counts.push_back(st.table->local_count(room, user));
        st.dirty.clear();
        if (!update.counts.empty())
          self->send(st.cluster, pstate_atom::value, std::move(update));
      },
      // A new link: everything this node has, so the peer can replace what
      // it knew of us. Batches sent before this answer are not sent to it.
      [=](pdump_atom, const std::string& node, std::uint64_t epoch) {
        self->send(self->state.cluster, pdump_atom::value, node, epoch,
                   presence_update{self->state.table->local_counts()});
      },
      [=](pstate_atom, const std::string& node, const presence_update& update, bool replace) {
        auto& table = *self->state.table;
        announce(self, replace ? table.replace_node(node, update.counts) : table.set(node, update.counts));
      },
      [=](pdrop_atom, const std::string& node) { announce(self, self->state.table->drop_node(node)); },
  };
}

} // namespace chatd::actors
