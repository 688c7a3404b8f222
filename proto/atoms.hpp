#pragma once

#include "proto/frame.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>
#include <vector>

namespace chatd {

// Messages between the actors of one node.
using track_atom = caf::atom_constant<caf::atom("track")>;     // (track, room, loop): a member joined
using untrack_atom = caf::atom_constant<caf::atom("untrack")>; // (untrack, room, loop): a member left
using route_atom = caf::atom_constant<caf::atom("route")>;     // (route, room, loop, bool): loop has members or not
using publish_atom = caf::atom_constant<caf::atom("publish")>; // (publish, frame_batch, origin loop)
using deliver_atom = caf::atom_constant<caf::atom("deliver")>; // (deliver, frame_batch): to a loop's members
// (noderoom, room, present, generation): loop -> cluster, the node got its first member of a room or lost its last
using node_room_atom = caf::atom_constant<caf::atom("noderoom")>;
// (announced, room, generation): cluster -> broadcaster -> loops, peers know of the node's members
using announced_atom = caf::atom_constant<caf::atom("announced")>;
using count_atom = caf::atom_constant<caf::atom("count")>; // (count) -> connections on this node
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using cluster_atom = caf::atom_constant<caf::atom("cluster")>; // (cluster, actor): where to send publishes for peers
using dial_atom = caf::atom_constant<caf::atom("dial")>;       // (dial, seed index): try to reach a peer

// The origin of a frame that came from another node rather than a local loop.
inline constexpr std::uint64_t remote_origin = ~std::uint64_t{0};

// What one loop pass published, or what one actor hop carries: frames in
// the order they were read.
using frame_batch = std::vector<frame_ptr>;

} // namespace chatd

// Frames stay inside one process: they are shared by pointer between loops
// and never serialized, so CAF may carry them without an inspect() overload.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(chatd::frame_batch)
