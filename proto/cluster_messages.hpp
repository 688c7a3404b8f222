#pragma once

#include "proto/atoms.hpp"
#include "proto/presence_count.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace chatd {

// Bumped whenever what crosses the cluster port changes shape. Peers with
// another version are refused at the hello, before any message flows.
inline constexpr std::uint32_t cluster_protocol_version = 4;

// Between the cluster actors of two nodes.
using hello_atom = caf::atom_constant<caf::atom("hello")>;     // (hello, version, node id) -> (version, node id)
using census_atom = caf::atom_constant<caf::atom("census")>;   // (census, node id, connections)
using forward_atom = caf::atom_constant<caf::atom("forward")>; // (forward, cluster_batch)
// Interest routing: a node tells its peers which rooms it has members of.
using interest_atom = caf::atom_constant<caf::atom("interest")>; // (interest, room) -> (ack): first member here
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using nointerest_atom = caf::atom_constant<caf::atom("nointrst")>; // (nointrst, room): last member gone
using rooms_atom = caf::atom_constant<caf::atom("rooms")>;
using get_rooms_atom = caf::atom_constant<caf::atom("getrooms")>; // (getrooms) -> (rooms, room_list): at link-up
// (removeuser, room, user): close that user's connections in the room on the receiving node.
using remove_user_atom = caf::atom_constant<caf::atom("removeuser")>;
// Order across nodes: (ordreq, cluster_batch), messages for the receiving node to order
// (it orders their rooms in the sender's view); (rhistory, cluster_history_request) ->
// cluster_history_answer, a session's history request to the node that orders its room.
using order_request_atom = caf::atom_constant<caf::atom("ordreq")>;
using remote_history_atom = caf::atom_constant<caf::atom("rhistory")>;

// A client message on its way to another node. The bytes are copied once per
// peer link; the receiving node shares them among its loops as a frame.
// The sender, the time the first node read it and its place in the room's
// order (offset 0: none yet, or --cluster-order off) travel with it unchanged.
struct cluster_frame {
  std::string room;
  std::string bytes;
  std::uint8_t kind = 0; // chatd::message_kind
  bool v1_only = false;
  std::string user;
  std::string name;
  std::int64_t ts_ms = 0;
  std::uint64_t offset = 0;
  std::string epoch;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_frame& x) {
  return f(caf::meta::type_name("chatd.cluster_frame.v4"), x.room, x.bytes, x.kind, x.v1_only, x.user, x.name, x.ts_ms,
           x.offset, x.epoch);
}

// What one hop between two nodes carries: the messages of one batch whose
// rooms the receiving node has members of.
using cluster_batch = std::vector<cluster_frame>;

// A chatd.v1 session's ?since= / ?history= (net::history_request) for a room
// the receiving node orders, and its answer (net::history_answer).
struct cluster_history_request {
  std::string room;
  bool resume = false;
  std::string epoch;
  std::uint64_t offset = 0;
  std::uint64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_history_request& x) {
  return f(caf::meta::type_name("chatd.cluster_history_request.v4"), x.room, x.resume, x.epoch, x.offset, x.count);
}

struct cluster_history_answer {
  bool recovered = false;
  std::string epoch;
  std::uint64_t offset = 0;
  cluster_batch frames;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_history_answer& x) {
  return f(caf::meta::type_name("chatd.cluster_history_answer.v4"), x.recovered, x.epoch, x.offset, x.frames);
}

// The rooms a node has members of.
struct room_list {
  std::vector<std::string> rooms;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, room_list& x) {
  return f(caf::meta::type_name("chatd.room_list.v4"), x.rooms);
}

// Presence: a node's absolute counts, a batch of changes or a full dump.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_count& x) {
  return f(caf::meta::type_name("chatd.presence_count.v4"), x.room, x.user, x.name, x.connections);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, presence_update& x) {
  return f(caf::meta::type_name("chatd.presence_update.v4"), x.counts);
}

// Registers every type above with CAF so it can cross the wire.
inline void add_cluster_message_types(caf::actor_system_config& config) {
  config.add_message_type<cluster_frame>("chatd.cluster_frame.v4");
  config.add_message_type<cluster_batch>("chatd.cluster_batch.v4");
  config.add_message_type<cluster_history_request>("chatd.cluster_history_request.v4");
  config.add_message_type<cluster_history_answer>("chatd.cluster_history_answer.v4");
  config.add_message_type<room_list>("chatd.room_list.v4");
  config.add_message_type<presence_count>("chatd.presence_count.v4");
  config.add_message_type<presence_update>("chatd.presence_update.v4");
}

} // namespace chatd
